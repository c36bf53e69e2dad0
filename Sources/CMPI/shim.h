// OpenMPI's C API, found through pkg-config (ompi-c). The include path reaches Swift only
// through this system-library target; `-I` in a C target compiles but fails on import.
#include <mpi.h>

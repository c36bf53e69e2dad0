// Everything lives in the header as static inline functions; this file gives the target a
// translation unit.
#include "CMPIShim.h"

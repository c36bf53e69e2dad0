# Sourced by the launch scripts that start mpirun themselves (mpirun.sh, two-hosts.sh).
#
# run_forwarding_stops COMMAND... runs COMMAND in a process group of its own (out of reach of a
# terminal's Ctrl-C, which would reach mpirun and the ranks directly), passes SIGTERM, SIGINT,
# SIGUSR1 and SIGHUP on to it as SIGUSR1 — the trainer's clean stop: every rank checkpoints the
# stop step and exits 0, where mpirun answers SIGTERM by killing the ranks — and exits with
# COMMAND's status once it has ended.
run_forwarding_stops() {
    set -m
    "$@" &
    forwarded_job=$!
    set +m
    trap 'kill -USR1 "$forwarded_job" 2>/dev/null || true' TERM INT USR1 HUP
    # `wait` returns early when a trapped signal arrives; wait again until the job has ended.
    local status
    while true; do
        status=0
        wait "$forwarded_job" || status=$?
        kill -0 "$forwarded_job" 2>/dev/null || break
    done
    exit "$status"
}

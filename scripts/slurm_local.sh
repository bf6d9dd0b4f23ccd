#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests and demos.
#
#   scripts/slurm_local.sh start [--install] [--dir DIR]   start munged, slurmctld, slurmd
#   scripts/slurm_local.sh stop [--dir DIR]                stop exactly the daemons it started
#   scripts/slurm_local.sh env [--dir DIR]                 print the export line for clients
#
# Everything lives in DIR (default: .slurm-local in the current folder): slurm.conf for this
# node's real CPU count and memory, a munge key, sockets, PID files, spool, state and logs.
# Nothing is installed unless --install is given (apt-get install slurm-wlm munge). Clients
# (sbatch, squeue, Hydra's submitit launcher) find the cluster through SLURM_CONF, which
# `env` prints:  eval "$(scripts/slurm_local.sh env)".
# `stop` signals only the processes whose PIDs its own PID files hold, and only while they
# are still the daemons it started (checked by their command line).
set -euo pipefail

command=${1:-}
shift || true
dir=.slurm-local
install=false
while [ $# -gt 0 ]; do
    case $1 in
        --install) install=true ;;
        --dir) dir=$2; shift ;;
        *) echo "slurm_local.sh: unknown option $1 (allowed: --install, --dir DIR)" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
conf=$dir/slurm.conf
daemons=(slurmd slurmctld munged)  # stopped in this order, started in the reverse

pid_of() { cat "$dir/$1.pid" 2>/dev/null || true; }

ours() {  # is PID $2 still the $1 this script started in $dir?
    local pid=$2
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
        tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$1" &&
        tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$dir"
}

write_config() {
    local host cpus memory user
    host=$(hostname -s)
    cpus=$(nproc --all)
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    user=$(id -un)
    mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
    chmod 700 "$dir/munge"
    if [ ! -s "$dir/munge/munge.key" ]; then
        dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
        chmod 400 "$dir/munge/munge.key"
    fi
    cat > "$conf" <<EOF
# written by scripts/slurm_local.sh: a one-node cluster on $host
ClusterName=fairens-local
SlurmctldHost=$host
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPort=${SLURM_LOCAL_PORT:-6817}
SlurmdPort=$(( ${SLURM_LOCAL_PORT:-6817} + 1 ))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
JobRequeue=1
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobs.txt
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
DefMemPerCPU=$(( memory / cpus ))
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

start() {
    if $install && ! command -v slurmctld > /dev/null; then
        apt-get install -y slurm-wlm munge
    fi
    for daemon in munged slurmctld slurmd; do
        if ! command -v "$daemon" > /dev/null && [ ! -x "/usr/sbin/$daemon" ]; then
            echo "slurm_local.sh: $daemon is not installed (run with --install, or apt-get" \
                 "install slurm-wlm munge)" >&2
            exit 1
        fi
    done
    for daemon in "${daemons[@]}"; do
        if ours "$daemon" "$(pid_of "$daemon")"; then
            echo "slurm_local.sh: already running in $dir (stop it first)" >&2
            exit 1
        fi
    done
    write_config
    PATH=$PATH:/usr/sbin
    munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed"
    SLURM_CONF=$conf slurmctld -f "$conf"
    SLURM_CONF=$conf slurmd -f "$conf"
    for _ in $(seq 120); do
        state=$(SLURM_CONF=$conf sinfo -h -N -o %t 2>/dev/null | head -1 || true)
        if [ "$state" = idle ] || [ "$state" = mix ] || [ "$state" = alloc ]; then
            echo "slurm_local.sh: node $(hostname -s) is $state ($(nproc --all) CPUs);" \
                 "clients: export SLURM_CONF=$conf"
            return 0
        fi
        sleep 0.5
    done
    echo "slurm_local.sh: the node did not become idle in 60 s; logs in $dir/log" >&2
    exit 1
}

stop() {
    local daemon pid
    for daemon in "${daemons[@]}"; do
        pid=$(pid_of "$daemon")
        if ours "$daemon" "$pid"; then
            kill "$pid"
            for _ in $(seq 100); do
                ours "$daemon" "$pid" || break
                sleep 0.1
            done
            ours "$daemon" "$pid" && kill -9 "$pid"
        fi
        rm -f "$dir/$daemon.pid"
    done
}

case $command in
    start) start ;;
    stop) stop ;;
    env) echo "export SLURM_CONF=$conf" ;;
    *) echo "usage: scripts/slurm_local.sh start [--install] [--dir DIR] | stop [--dir DIR] |" \
            "env [--dir DIR]" >&2; exit 2 ;;
esac

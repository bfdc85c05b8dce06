#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for testing `snakemake --profile slurm`.
#
#   bash tests/cluster/slurm.sh start    install (Debian packages) and start munge, MariaDB,
#                                        slurmdbd, slurmctld and slurmd; partitions `cpu`
#                                        (default) and `gpu` with two fake GPUs
#   bash tests/cluster/slurm.sh status   daemons, partitions, recent jobs
#   bash tests/cluster/slurm.sh stop     stop every daemon this script started
#
# Needs root and apt (run `apt-get update` once on a fresh machine; `start` does it when
# the package lists are empty). Accounting goes through slurmdbd, so `sacct` works and
# the SLURM executor plugin can use its default status command. The fake GPUs are
# character devices aliasing /dev/null: jobs get CUDA_VISIBLE_DEVICES but no real card.
set -euo pipefail

action="${1:-start}"
node="$(hostname -s)"
conf=/etc/slurm
state=/var/lib/slurm
logs=/var/log/slurm
gpus="$state/fake-gpus"

say() { echo "[test-cluster] $*"; }

retry() {  # retry SECONDS COMMAND...: run COMMAND every half second until it succeeds
    local limit=$(( $1 * 2 )); shift
    for _ in $(seq "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    return 1
}

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_daemon() {  # stop_daemon NAME PIDFILE
    if running "$2"; then
        say "stopping $1"
        kill "$(cat "$2")"
        retry 10 bash -c "! kill -0 $(cat "$2")" || kill -9 "$(cat "$2")" 2>/dev/null || true
    fi
    rm -f "$2"
}

install_packages() {
    local wanted=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server) missing=()
    for pkg in "${wanted[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ "${#missing[@]}" -eq 0 ] && return
    say "installing ${missing[*]}"
    apt-cache policy slurmd 2>/dev/null | grep -q Candidate: || apt-get update -qq
    # postinst scripts try to start services; the sandbox refuses, which is harmless
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

start_munge() {
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown -R munge:munge /etc/munge && chmod 0700 /etc/munge && chmod 0600 /etc/munge/munge.key
    install -d -o munge -g munge /run/munge /var/lib/munge /var/log/munge
    running /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged
    retry 10 bash -c 'munge -n | unmunge' || { say "munge does not work"; exit 1; }
}

start_accounting() {
    install -d -o mysql -g mysql /run/mysqld
    if ! running /run/mysqld/mysqld.pid; then
        /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
            --socket=/run/mysqld/mysqld.sock --bind-address=127.0.0.1 \
            >"$logs/mariadb.log" 2>&1 &
    fi
    retry 30 mariadb -e 'select 1' || { say "MariaDB did not start ($logs/mariadb.log)"; exit 1; }
    mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
                CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
                GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    cat >"$conf/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=$logs/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=slurm
CONF
    chown slurm:slurm "$conf/slurmdbd.conf" && chmod 600 "$conf/slurmdbd.conf"
    running /run/slurmdbd.pid || /usr/sbin/slurmdbd
    retry 30 sacctmgr -n list cluster || { say "slurmdbd does not answer ($logs/slurmdbd.log)"; exit 1; }
    local clusters
    clusters="$(sacctmgr -n -P list cluster format=cluster)"
    grep -q testcluster <<<"$clusters" || sacctmgr -i add cluster testcluster >/dev/null
}

write_config() {
    local hw cpus mem
    hw="$(slurmd -C | head -1)"
    cpus="$(grep -o 'CPUs=[0-9]*' <<<"$hw" | cut -d= -f2)"
    mem="$(grep -o 'RealMemory=[0-9]*' <<<"$hw" | cut -d= -f2)"
    getent hosts "$node" >/dev/null || echo "127.0.0.1 $node" >>/etc/hosts
    install -d "$gpus"
    for i in 0 1; do [ -c "$gpus/gpu$i" ] || mknod "$gpus/gpu$i" c 1 3; done
    install -d -o slurm -g slurm "$state/ctld" "$state/d" "$logs"
    local before
    before="$(cat "$conf/slurm.conf" 2>/dev/null || true)"
    cat >"$conf/slurm.conf" <<CONF
ClusterName=testcluster
SlurmctldHost=$node
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoreFlags=job_comment
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
MinJobAge=600
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=$state/d
StateSaveLocation=$state/ctld
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
GresTypes=gpu
NodeName=$node CPUs=$cpus RealMemory=$(( mem * 9 / 10 )) Gres=gpu:fake:2 State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$node MaxTime=INFINITE State=UP
CONF
    cat >"$conf/gres.conf" <<CONF
AutoDetect=off
NodeName=$node Name=gpu Type=fake File=$gpus/gpu[0-1]
CONF
    if [ "$before" != "$(cat "$conf/slurm.conf")" ]; then  # plugin changes need a restart
        stop_daemon slurmd /run/slurmd.pid
        stop_daemon slurmctld /run/slurmctld.pid
    fi
}

idle() { sinfo -h -n "$node" -o %T | grep -qE '^(idle|mixed|allocated)'; }

start_slurm() {
    running /run/slurmctld.pid || /usr/sbin/slurmctld
    retry 30 scontrol ping || { say "slurmctld does not answer ($logs/slurmctld.log)"; exit 1; }
    running /run/slurmd.pid || /usr/sbin/slurmd
    if ! retry 30 idle; then
        scontrol update nodename="$node" state=resume || true
        retry 30 idle || { sinfo -R; say "node not idle ($logs/slurmd.log)"; exit 1; }
    fi
}

case "$action" in
    start)
        [ "$(id -u)" = 0 ] || { say "needs root"; exit 1; }
        install_packages
        install -d "$conf" "$logs"
        start_munge
        write_config
        start_accounting
        start_slurm
        srun -p gpu --gres=gpu:1 -t 1 bash -c 'test -n "$CUDA_VISIBLE_DEVICES"'
        say "up: partitions $(sinfo -h -o %P | tr '\n' ' ')"
        ;;
    status)
        for pid in /run/munge/munged.pid /run/mysqld/mysqld.pid /run/slurmdbd.pid \
                   /run/slurmctld.pid /run/slurmd.pid; do
            if running "$pid"; then echo "$pid: running"; else echo "$pid: stopped"; fi
        done
        sinfo -o '%P %T %G %c %m' || true
        sacct -X -o JobID,Partition,ReqTRES%40,State -S now-1hour 2>/dev/null | tail -20 || true
        ;;
    stop)
        stop_daemon slurmd /run/slurmd.pid
        stop_daemon slurmctld /run/slurmctld.pid
        stop_daemon slurmdbd /run/slurmdbd.pid
        stop_daemon mariadbd /run/mysqld/mysqld.pid
        stop_daemon munged /run/munge/munged.pid
        ;;
    *) echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac

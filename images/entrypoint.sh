#!/bin/sh
# Container entrypoint for the pmipv6-lab images (node and host).
#
# 1. Wait until containerlab has moved the data interfaces in: CLAB_INTFS is
#    the number of data links (eth1..ethN). Bounded wait; a clear message if
#    they never come (the container keeps running so it can be inspected).
# 2. On pmip6d nodes: if /etc/pmip6d/pmip6d.yaml exists (Ansible writes it),
#    start the daemon with pmip6d-service. Otherwise wait for configuration:
#    Ansible starts and restarts the daemon later through pmip6d-service.
# 3. Stay alive as PID 1 (there is no init system in the lab containers).
set -u

wait_s=${PMIP6_INTF_WAIT:-60}
want=${CLAB_INTFS:-0}

count_data_intfs() {
    n=0
    for d in /sys/class/net/eth*; do
        [ -e "$d" ] || continue
        [ "$(basename "$d")" = eth0 ] && continue
        n=$((n + 1))
    done
    echo "$n"
}

if [ "$want" -gt 0 ]; then
    i=0
    while [ "$(count_data_intfs)" -lt "$want" ]; do
        if [ "$i" -ge $((wait_s * 10)) ]; then
            echo "entrypoint: only $(count_data_intfs) of $want data interfaces after ${wait_s}s;" \
                 "is the containerlab link definition right? continuing anyway" >&2
            break
        fi
        i=$((i + 1))
        sleep 0.1
    done
    echo "entrypoint: $(count_data_intfs)/$want data interfaces present"
fi

if command -v pmip6d-service >/dev/null 2>&1; then
    if [ -f /etc/pmip6d/pmip6d.yaml ]; then
        pmip6d-service start
    else
        echo "entrypoint: no /etc/pmip6d/pmip6d.yaml yet; waiting for Ansible (playbooks/site.yml)"
    fi
fi

trap 'exit 0' TERM INT
while :; do
    sleep 3600 &
    wait $!
done

{# format: shell #}
#!/bin/sh
# postgres-memory.sh MB|auto MAX_CONNECTIONS: PostgreSQL memory settings
# for a server with MB megabytes ("auto": its MemTotal).  Written by
# provision (role postgres).
set -e
mem=$1
conns=$2
[ "$mem" = auto ] && mem=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
sb=$((mem / 4))
[ "$sb" -lt 32 ] && sb=32
ecs=$((mem * 3 / 4))
mwm=$((mem / 16))
[ "$mwm" -gt 2048 ] && mwm=2048
[ "$mwm" -lt 16 ] && mwm=16
wm=$(((mem - sb) / (conns * 3)))
[ "$wm" -lt 4 ] && wm=4
printf '# Written by provision (role postgres) for %s MB of memory.\n' "$mem"
printf 'shared_buffers = %dMB\n' "$sb"
printf 'effective_cache_size = %dMB\n' "$ecs"
printf 'maintenance_work_mem = %dMB\n' "$mwm"
printf 'work_mem = %dMB\n' "$wm"

{# format: shell #}
#!/bin/sh
# etcd-env.sh NAME ADDRESS MEMBER=ADDRESS...: /etc/default/etcd for this
# member of the cluster.  Written by provision (role patroni).
set -e
name=$1
addr=$2
shift 2
cluster=
for m in "$@"; do
	cluster="${cluster:+$cluster,}${m%%=*}=http://${m#*=}:2380"
done
printf '# Written by provision (role patroni).\n'
printf 'ETCD_NAME=%s\n' "$name"
printf 'ETCD_DATA_DIR=/var/lib/etcd/provision\n'
printf 'ETCD_LISTEN_PEER_URLS=http://%s:2380\n' "$addr"
printf 'ETCD_LISTEN_CLIENT_URLS=http://%s:2379,http://127.0.0.1:2379\n' "$addr"
printf 'ETCD_INITIAL_ADVERTISE_PEER_URLS=http://%s:2380\n' "$addr"
printf 'ETCD_ADVERTISE_CLIENT_URLS=http://%s:2379\n' "$addr"
printf 'ETCD_INITIAL_CLUSTER=%s\n' "$cluster"
printf 'ETCD_INITIAL_CLUSTER_STATE=new\n'
printf 'ETCD_INITIAL_CLUSTER_TOKEN=provision\n'

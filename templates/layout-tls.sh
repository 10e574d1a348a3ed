{# format: shell #}
#!/bin/sh
# Written by provision (role layout-tls): this host's certificate of a
# certificate authority of its layout, for the layout's services that talk
# mutual TLS to each other (pgBackRest's TLS server, journals shipped to the
# monitoring server).
#   layout-tls.sh check DIR OWNER CN ADDR CA_PUBLIC   0 when DIR holds a good set
#   layout-tls.sh make DIR OWNER CN ADDR CA_CN        makes it; the CA's private key (PEM) on stdin
# DIR/ca.crt is the CA's certificate, made here from its key with the fixed
# subject CA_CN; DIR/host.key is this host's own key, made here, never
# leaving it (OWNER, 0600); DIR/host.crt is its certificate (CN, and ADDR as
# its subjectAltName), signed by the CA, good for server and client.  The
# CA's key is only ever in memory and pipes, never in a file or a command
# line; 'check' needs only its public key (PEM).
set -u
[ $# -ge 5 ] || { echo "usage: layout-tls.sh check|make DIR OWNER CN ADDR CA_PUBLIC|CA_CN" >&2; exit 2; }
cmd=$1 dir=$2 owner=$3 cn=$4 addr=$5

check() {
	capub=$1
	[ -s "$dir/ca.crt" ] && [ -s "$dir/host.key" ] && [ -s "$dir/host.crt" ] || return 1
	# the CA certificate is of the key given (trailing newlines aside)
	[ "$(openssl x509 -in "$dir/ca.crt" -noout -pubkey 2>/dev/null)" = "$(printf '%s\n' "$capub")" ] || return 1
	# this host's certificate: signed by it, of this host's key, for this address
	openssl verify -CAfile "$dir/ca.crt" "$dir/host.crt" >/dev/null 2>&1 || return 1
	[ "$(openssl x509 -in "$dir/host.crt" -noout -pubkey)" = "$(openssl pkey -in "$dir/host.key" -pubout)" ] || return 1
	openssl x509 -in "$dir/host.crt" -noout -subject -nameopt RFC2253 | grep -qx "subject=CN=$cn" || return 1
	openssl x509 -in "$dir/host.crt" -noout -ext subjectAltName | grep -q "DNS:$addr, IP Address:$addr\$" || return 1
	[ "$(stat -c %U:%a "$dir/host.key")" = "$owner:600" ] || return 1
	openssl x509 -in "$dir/host.crt" -noout -checkend 2592000 >/dev/null
}

make() {
	cacn=$1
	ca=$(cat)
	[ -n "$ca" ] || { echo "no CA key on stdin" >&2; return 1; }
	capub=$(printf '%s\n' "$ca" | openssl pkey -pubout) || return 1
	umask 077
	install -d -o "$owner" -g "$(id -gn "$owner")" -m 0700 "$dir" || return 1
	cat >"$dir/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $cacn
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign
subjectKeyIdentifier = hash
EOF
	if [ ! -s "$dir/ca.crt" ] || [ "$(openssl x509 -in "$dir/ca.crt" -noout -pubkey 2>/dev/null)" != "$capub" ]; then
		printf '%s\n' "$ca" | openssl req -x509 -new -key /dev/stdin -config "$dir/ca.cnf" -extensions ca \
			-set_serial 1 -days 36500 -out "$dir/ca.crt.new" || return 1
		mv "$dir/ca.crt.new" "$dir/ca.crt"
	fi
	if [ ! -s "$dir/host.key" ]; then
		openssl genpkey -algorithm ED25519 -out "$dir/host.key.new" || return 1
		mv "$dir/host.key.new" "$dir/host.key"
	fi
	openssl req -new -key "$dir/host.key" -subj "/CN=$cn" -out "$dir/host.csr" || return 1
	printf '%s\n' "basicConstraints = critical,CA:FALSE" "keyUsage = critical,digitalSignature" \
		"extendedKeyUsage = serverAuth,clientAuth" "subjectAltName = DNS:$addr,IP:$addr" \
		"authorityKeyIdentifier = keyid" "subjectKeyIdentifier = hash" >"$dir/host.ext"
	printf '%s\n' "$ca" | openssl x509 -req -in "$dir/host.csr" -CA "$dir/ca.crt" -CAkey /dev/stdin \
		-set_serial "0x$(openssl rand -hex 12)" -days 3650 -extfile "$dir/host.ext" -out "$dir/host.crt.new" ||
		return 1
	mv "$dir/host.crt.new" "$dir/host.crt"
	rm -f "$dir/host.csr"
	chown "$owner:$(id -gn "$owner")" "$dir"/*
	chmod 0600 "$dir/host.key"
	chmod 0644 "$dir/ca.crt" "$dir/host.crt"
	check "$capub" || { echo "the certificate made in $dir does not check" >&2; return 1; }
}

case "$cmd" in
check) check "$6" ;;
make) make "$6" ;;
*)
	echo "usage: layout-tls.sh check|make ..." >&2
	exit 2
	;;
esac

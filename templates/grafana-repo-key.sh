{# format: shell #}
#!/bin/sh
# Written by provision (role monitoring): fetch Grafana's repository keys
# over HTTPS and put into apt's keyring for Grafana only the key whose
# fingerprint the inventory pins (grafana_repo_key_fingerprint); any
# other key file is refused and nothing is written.
set -u
fpr=$(printf '%s' {{ grafana_repo_key_fingerprint }} | tr 'a-f' 'A-F')
url={{ grafana_repo_key_url }}
keyring=/etc/apt/keyrings/grafana.gpg
if ! printf '%s\n' "$fpr" | grep -Eqx '[0-9A-F]{40}'; then
	echo "grafana_repo_key_fingerprint must be 40 hex digits"
	exit 1
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
if [ -n "${1:-}" ]; then
	cp "$1" "$tmp/keys" || exit 1 # a key file at hand (the tests)
elif ! curl -fsS --proto =https --max-time 60 -o "$tmp/keys" "$url"; then
	echo "cannot fetch Grafana's repository key from $url: Grafana is not installed"
	exit 1
fi
export GNUPGHOME="$tmp"
gpg --batch --quiet --import "$tmp/keys" 2>/dev/null
if ! gpg --batch --with-colons --list-keys 2>/dev/null | grep -q "^fpr:*$fpr:"; then
	echo "Grafana's repository key file has no key with the fingerprint $fpr: refused"
	exit 1
fi
gpg --batch --export "$fpr" >"$tmp/grafana.gpg" && chmod 0644 "$tmp/grafana.gpg" &&
	mv "$tmp/grafana.gpg" "$keyring"

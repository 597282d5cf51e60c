#!/usr/bin/env bash
# gen-certs.sh DIR -- makes a throw-away certificate authority and TLS
# certificates for a Docker daemon listening on 127.0.0.1, in DIR:
#
#   ca.pem, ca-key.pem               the CA
#   server-cert.pem, server-key.pem  dockerd's certificate (serverAuth,
#                                    SANs IP:127.0.0.1 and DNS:localhost)
#   cert.pem, key.pem                a client certificate (clientAuth)
#
# DIR then works as DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem).  Idempotent:
# when every file is present, the certificates verify against the CA, match
# their keys and are valid for at least one more day, nothing is done.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
DIR=$1
DAYS=825

# True when the key file holds the private key of the certificate.
key_matches() {
    local cert=$1 key=$2 a b
    a=$(openssl x509 -in "$cert" -noout -pubkey 2>/dev/null) || return 1
    b=$(openssl pkey -in "$key" -pubout 2>/dev/null) || return 1
    [ -n "$a" ] && [ "$a" = "$b" ]
}

# True when DIR already holds a complete, valid set.
certs_valid() {
    local d=$1 f
    for f in ca.pem ca-key.pem server-cert.pem server-key.pem cert.pem key.pem; do
        [ -s "$d/$f" ] || return 1
    done
    for f in ca.pem server-cert.pem cert.pem; do
        openssl x509 -in "$d/$f" -noout -checkend 86400 >/dev/null 2>&1 || return 1
    done
    openssl verify -CAfile "$d/ca.pem" -purpose sslserver -verify_ip 127.0.0.1 \
        "$d/server-cert.pem" >/dev/null 2>&1 || return 1
    openssl verify -CAfile "$d/ca.pem" -purpose sslserver -verify_hostname localhost \
        "$d/server-cert.pem" >/dev/null 2>&1 || return 1
    openssl verify -CAfile "$d/ca.pem" -purpose sslclient "$d/cert.pem" >/dev/null 2>&1 ||
        return 1
    key_matches "$d/ca.pem" "$d/ca-key.pem" &&
        key_matches "$d/server-cert.pem" "$d/server-key.pem" &&
        key_matches "$d/cert.pem" "$d/key.pem"
}

if certs_valid "$DIR"; then
    echo "gen-certs: valid certificates already in $DIR"
    exit 0
fi

mkdir -p "$DIR"
tmp=$(mktemp -d "$DIR/.gen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/ext.cnf" <<'EOF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# Prints a random positive serial number.
serial() { echo "0x$(openssl rand -hex 8 | sed 's/^./1/')"; }

# newkey FILE: a P-256 private key, readable by root only.
newkey() {
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$1" 2>/dev/null)
}

# sign NAME CN SECTION: key NAME-key.pem, certificate NAME-cert.pem signed by the CA.
sign() {
    local name=$1 cn=$2 section=$3
    newkey "$tmp/$name-key.pem"
    openssl req -new -key "$tmp/$name-key.pem" -subj "/CN=$cn" -out "$tmp/$name.csr"
    openssl x509 -req -in "$tmp/$name.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca-key.pem" \
        -set_serial "$(serial)" -days "$DAYS" -sha256 \
        -extfile "$tmp/ext.cnf" -extensions "$section" -out "$tmp/$name-cert.pem" 2>/dev/null
}

newkey "$tmp/ca-key.pem"
openssl req -new -x509 -key "$tmp/ca-key.pem" -subj "/CN=docker-dispatch test CA" \
    -days "$DAYS" -sha256 -set_serial "$(serial)" \
    -config "$tmp/ext.cnf" -extensions ca -out "$tmp/ca.pem" 2>/dev/null
sign server localhost server
sign client docker-dispatch-client client

# Install the set under the DOCKER_CERT_PATH names.
mv -f "$tmp/ca-key.pem" "$DIR/ca-key.pem"
mv -f "$tmp/server-key.pem" "$DIR/server-key.pem"
mv -f "$tmp/server-cert.pem" "$DIR/server-cert.pem"
mv -f "$tmp/client-key.pem" "$DIR/key.pem"
mv -f "$tmp/client-cert.pem" "$DIR/cert.pem"
mv -f "$tmp/ca.pem" "$DIR/ca.pem"

if ! certs_valid "$DIR"; then
    echo "gen-certs: FAILED: the new certificates in $DIR do not verify" >&2
    exit 1
fi
echo "gen-certs: new CA, server and client certificates in $DIR"

#!/usr/bin/env bash
# Test-only CA and server certificate for the wss captures (captures/make-wss.sh).
# The private keys are committed on purpose: they protect nothing, and the key logs beside
# the captures decrypt the traffic anyway. RSA 2048 so that TLS 1.2 ECDHE-RSA suites work.
#   ca.pem / ca.key          "wsdiag test CA"
#   server.pem / server.key  CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1, signed by the CA
#   server.spki              base64(sha256(SPKI)) for chromium --ignore-certificate-errors-spki-list
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7300 -subj "/O=wsdiag/CN=wsdiag test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/O=wsdiag/CN=localhost" -keyout server.key -out server.csr
cat > server.ext <<'X'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
X
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 7300 \
    -extfile server.ext -out server.pem
rm -f server.csr server.ext ca.srl
openssl x509 -in server.pem -pubkey -noout | openssl pkey -pubin -outform der \
    | openssl dgst -sha256 -binary | base64 >server.spki
chmod 644 ca.key server.key
openssl verify -CAfile ca.pem server.pem

# The consumer pods' command (busybox sh; /tmp must be writable): serves
# readiness on :8080 and logs the fingerprints of the token in the mounted
# Secret and in the environment whenever they change (never the token).
mkdir -p /tmp/www && echo ok >/tmp/www/index.html && httpd -p 8080 -h /tmp/www;
fp() { printf %s "$1" | sha256sum | cut -c1-16; };
last=;
while :; do
  line="file=sha256:$(fp "$(cat /etc/sysdig/SYSDIG_MONITOR_API_TOKEN 2>/dev/null)") env=sha256:$(fp "$SYSDIG_MONITOR_API_TOKEN")";
  [ "$line" = "$last" ] || { echo "$line"; last=$line; };
  sleep 0.2;
done

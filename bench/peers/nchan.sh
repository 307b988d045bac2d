#!/usr/bin/env bash
# nginx + nchan as a standalone peer for the benchmarks: its own prefix under DIR, one worker,
# loopback PORT, /pub/<channel>, /sub/<channel> (EventSource) and /replay/<channel> (EventSource
# from the oldest buffered message), a message buffer sized like
# Herald's default retention (100,000 events per topic, 1 day).
#   bench/peers/nchan.sh start PORT DIR     (installs nginx + libnginx-mod-nchan if missing)
#   bench/peers/nchan.sh stop DIR
set -euo pipefail
cmd="${1:?start|stop}"
case "$cmd" in
  start)
    port="${2:?port}"; dir="${3:?dir}"
    if [ ! -f /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-nchan >/dev/null
      service nginx stop >/dev/null 2>&1 || true # Debian starts a default site; we want ours only
    fi
    mkdir -p "$dir/tmp" "$dir/logs"
    cat > "$dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 19000; }
http {
  access_log off;
  keepalive_requests 100000000; # the benchmark publisher keeps one connection
  client_body_temp_path $dir/tmp;
  nchan_max_reserved_memory 512M;
  server {
    listen 127.0.0.1:$port backlog=4096;
    location ~ ^/pub/(.+)$ {
      nchan_publisher;
      nchan_channel_id \$1;
      nchan_message_buffer_length 100000;
      nchan_message_timeout 1d;
    }
    location ~ ^/sub/(.+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id \$1;
    }
    location ~ ^/ws/(.+)$ {
      nchan_subscriber websocket;
      nchan_channel_id \$1;
    }
    location ~ ^/replay/(.+)$ { # a new subscriber starts at the oldest buffered message
      nchan_subscriber eventsource;
      nchan_channel_id \$1;
      nchan_subscriber_first_message oldest;
    }
  }
}
CONF
    nginx -p "$dir" -c "$dir/nginx.conf"
    for _ in $(seq 100); do
      if curl -s -o /dev/null -X POST "http://127.0.0.1:$port/pub/ready"; then exit 0; fi
      sleep 0.05
    done
    echo "nchan did not start (see $dir/logs/error.log)" >&2; exit 1
    ;;
  stop)
    dir="${2:?dir}"
    [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
    for _ in $(seq 100); do [ -f "$dir/nginx.pid" ] || exit 0; sleep 0.05; done
    ;;
esac

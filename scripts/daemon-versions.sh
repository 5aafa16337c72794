#!/bin/sh
# Prints the versions of the daemons the test/daemons suite runs (for the README and CI logs).
set -u
v() { printf '%-16s ' "$1"; shift; "$@" 2>&1 | head -n 1 || echo "not installed"; }
v haproxy haproxy -v
v nginx nginx -v
v postgresql /usr/lib/postgresql/15/bin/postgres --version
v redis redis-server --version
v rabbitmq sh -c "dpkg-query -W -f='rabbitmq-server \${Version}\n' rabbitmq-server"
v erlang sh -c "dpkg-query -W -f='erlang-base \${Version}\n' erlang-base"
v memcached memcached --version
v uwsgi sh -c 'echo "uwsgi $(uwsgi --version)"'
v gunicorn gunicorn --version
v python3 /usr/bin/python3 --version
v celery sh -c "echo celery \$(/usr/bin/python3 -c 'import celery; print(celery.__version__)')"
v patroni patroni --version
v etcd sh -c "etcd --version | head -n 1"
v node node --version
v prometheus sh -c 'prometheus --version 2>&1 | head -n 1'
v alertmanager sh -c 'prometheus-alertmanager --version 2>&1 | head -n 1'
v pg-exporter sh -c "dpkg-query -W -f='prometheus-postgres-exporter \${Version}\n' prometheus-postgres-exporter"
v redis-exporter sh -c "dpkg-query -W -f='prometheus-redis-exporter \${Version}\n' prometheus-redis-exporter"
v nginx-exporter sh -c "dpkg-query -W -f='prometheus-nginx-exporter \${Version}\n' prometheus-nginx-exporter"
v blackbox sh -c "dpkg-query -W -f='prometheus-blackbox-exporter \${Version}\n' prometheus-blackbox-exporter"
v es-exporter sh -c "dpkg-query -W -f='prometheus-elasticsearch-exporter \${Version}\n' prometheus-elasticsearch-exporter"

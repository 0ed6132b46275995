# Local docker-registry instances for tests (sourced). Debian's
# docker-registry on 127.0.0.1, on a free port, storage under DIR.
#   start_registry DIR [extra http yaml] [CA file for https]
#     sets $port once /v2/ answers; adds the pid to $registry_pids
#   stop_registries   kills and reaps them (call from the EXIT trap)
registry_pids=""

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_registry() {
	port=$(free_port)
	mkdir -p "$1"
	{ printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$1/data" "$port"; printf '%s' "${2:-}"; } >"$1/config.yml"
	docker-registry serve "$1/config.yml" >"$1/log" 2>&1 &
	registry_pids="$registry_pids $!"
	scheme=http; [ -n "${3:-}" ] && scheme=https
	i=0
	until curl -s -o /dev/null ${3:+--cacert "$3"} "$scheme://127.0.0.1:$port/v2/"; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "FAIL registry $1: did not start"; cat "$1/log"; return 1; }
		sleep 0.1 # polling a child's readiness: the registry offers no event to wait on
	done
}

stop_registries() {
	for p in $registry_pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	registry_pids=""
}

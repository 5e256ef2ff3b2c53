// Package dockerremedy is the "docker" intervention kind: it restarts (or
// starts, stops, kills) a container through the Docker Engine API on a unix
// socket, without the docker CLI.
//
// A monitor's config block:
//
//	container: "{{.Monitor}}"     # required: name or id, a text/template
//	socket: /var/run/docker.sock  # default; or host: unix:///var/run/docker.sock
//	action: restart               # restart | start | stop | kill; default restart
//	stop_timeout: 10s             # restart and stop only: seconds before SIGKILL
//	api_version: "1.41"           # optional: prefixes paths with /v1.41
//	timeout: 30s                  # per attempt (intervention.Policy)
//	retries: 0
//	backoff: 1s
//
// The container template sees intervention.Request (.Monitor, .State,
// .Reason, .Groups, .Attempt); it is compiled and tried with sample data when
// the file is loaded. Each attempt is one POST /containers/{id}/{action}.
// 204 is success, and so is 304 for start and stop (the container is already
// in that state). The socket is not checked at load, so the agent may start
// before the Docker daemon.
package dockerremedy

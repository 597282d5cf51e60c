/*
 * ports.h -- every TCP port the tests, the lanes and the scripts bind on
 * loopback, in one table.
 *
 * Each is a fixed port or a range FIRST, LAST; a program that needs one
 * picks the first free port of its range, starting at an offset from its
 * pid (dfx_pick_port() in integration/daemon_fx.h), so that a run beside
 * another finds its own.  A private RabbitMQ node also takes its Erlang
 * distribution port, its AMQP port + DD_PORT_DIST_OFFSET (private-rabbitmq.sh),
 * so those ranges reserve the shifted range too.
 *
 * Every port here lies below the kernel's ephemeral range
 * (net.ipv4.ip_local_port_range, 32768 and up by default): there, an
 * outgoing connection may take a port between the check that it is free
 * and the bind, and a daemon that could not bind fails the run.  The
 * unit test test_ports checks that and that no two ranges overlap; the
 * scripts read this file with scripts/ports.sh NAME, so the table is the
 * only place a number is written.
 */
#ifndef DD_TEST_PORTS_H
#define DD_TEST_PORTS_H

/* The first and the last port of a range: DD_LAST(DD_PORTS_GATEWAY_DAEMON). */
#define DD_FIRST(...)          DD_FIRST_(__VA_ARGS__)
#define DD_LAST(...)           DD_LAST_(__VA_ARGS__)
#define DD_FIRST_(first, last) (first)
#define DD_LAST_(first, last)  (last)

/* Services of the machine (scripts/services.sh) */
#define DD_PORT_REGISTRY 5000 /* the local registry, localhost:5000/busybox */
#define DD_PORT_RABBITMQ 5672 /* the main RabbitMQ node (its distribution port is 25672) */
#define DD_PORT_EPMD     4369 /* Erlang's port mapper, started by the first node, shared */

/* A private node's Erlang distribution port is its AMQP port plus this. */
#define DD_PORT_DIST_OFFSET 20000

/* Private RabbitMQ nodes (AMQP ports; distribution ports + DD_PORT_DIST_OFFSET) */
#define DD_PORTS_FAULTS_RABBIT     5682, 5699 /* test_faults: the node it stops and starts */
#define DD_PORTS_CLUSTER_RABBIT    5710, 5779 /* cluster_fx: the nodes of a cluster */
#define DD_PORTS_FAULTS_AMQPS      5782, 5799 /* test_faults: the amqps listener */
#define DD_PORTS_INVARIANTS_RABBIT 5800, 5839 /* test_invariants */
#define DD_PORTS_GATEWAY_RABBIT    5840, 5879 /* test_gateway_daemon: RabbitMQ away and back */
#define DD_PORTS_LANE_RABBIT       5880, 5899 /* run-tests.sh: the RabbitMQ 4 lane's node */

/* Nothing listens here: a connection is refused (test_broker) */
#define DD_PORTS_NOTHING 6990, 6999

/* HTTP gateways of test dispatchers, and the browser of the dashboard test */
#define DD_PORTS_GATEWAY_DAEMON 18000, 18999 /* test_gateway_daemon */
#define DD_PORTS_DASHBOARD      19000, 19299 /* test_dashboard: its dispatcher's gateway */
#define DD_PORTS_DASHBOARD_CDP  19300, 19899 /* test_dashboard: Chromium's debugging port */
#define DD_PORTS_FAULTS_GATEWAY 19900, 20199 /* test_faults */
#define DD_PORTS_CLUSTER_OPS    20200, 20699 /* test_cluster_ops: one gateway a node */
#define DD_PORTS_DEB_GATEWAY    20700, 20799 /* scripts/test-deb.sh: the installed daemon's */
#define DD_PORTS_IMAGE_GATEWAY  20800, 20899 /* scripts/test-image.sh: the container's */

/* Private dockerd of the tcp and tls test setups (run-tests.sh, meson.build) */
#define DD_PORT_ITEST_TCP 22375
#define DD_PORT_ITEST_TLS 22376

/* bench/bench_sim: the stub engine */
#define DD_PORTS_BENCH_STUB 23800, 23899

#endif

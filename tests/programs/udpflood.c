/*
 * udpflood: a loopback UDP storm, for the environment tests of `iterprof
 * report` (tests/e2e/noise.py, SoftirqFlood).
 *
 *   udpflood --receive [--no-read] [--cpu C] [--seconds S]
 *   udpflood --port P [--cpu C] [--seconds S] [--on-ms A --off-ms B]
 *            [--size N] [--batch K] [--fifo PRIO] [--log FILE]
 *
 *   --receive    bind a UDP socket to 127.0.0.1 on a free port, print
 *                "udpflood: port P" on stdout and read (and discard) what
 *                arrives until killed or S seconds passed; with --no-read
 *                only wait (the socket's buffer fills, the kernel drops
 *                the rest in the softirq)
 *   --port P     send datagrams of N bytes (default 16) to 127.0.0.1:P as
 *                fast as possible (sendmmsg, K a call: default 1, at most
 *                64) for S seconds (default 10), in bursts of A ms every
 *                A + B ms when both are given
 *   --cpu C      pin to CPU C first
 *   --fifo PRIO  run as SCHED_FIFO at PRIO (root): the sender then sends at
 *                the same rate however busy its CPU is (bursts of 10 % of
 *                the time stay far below the kernel's real-time limit of
 *                95 %, sched_rt_runtime_us)
 *   --log FILE   the sender writes one line per burst as it ends:
 *                "START_NS END_NS DATAGRAMS" (CLOCK_MONOTONIC, the clock
 *                of the trace)
 *
 * Why this makes interrupts on another CPU: with Receive Packet Steering
 * set for lo (/sys/class/net/lo/queues/rx-0/rps_cpus = the mask of CPU T),
 * every datagram the sender puts on lo from its CPU is queued to T's
 * backlog; the sender's CPU then sends T an IPI and T runs the NET_RX
 * softirq in the context of whatever task runs there (on return from the
 * IPI), which delivers the datagrams to the receiver's socket. The sender
 * and the receiver both run on the other CPU. One datagram a call (K = 1)
 * makes the most IPIs. Measured on the project's 2-vCPU VMs: 26,000-47,000
 * NET_RX softirqs a second in a busy thread on T (79 in 2 s without the
 * storm); see SoftirqFlood in tests/e2e/noise.py.
 *
 * Both end when their parent process does (PR_SET_PDEATHSIG).
 *
 * Prints "udpflood: sent N datagrams in B bursts, E errors" at the end (the
 * sender); exit 0, 1 on a system error, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: see the comment at the top of tests/programs/udpflood.c\n");
	exit(2);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int receive(double seconds, int no_read)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	static char buffers[BATCH][2048];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
	struct timeval timeout = { 0, 100000 };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		die("socket");
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    getsockname(fd, (struct sockaddr *)&addr, &len))
		die("bind");
	/* wake up now and then to see the time */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)))
		die("setsockopt");
	printf("udpflood: port %d\n", ntohs(addr.sin_port));
	fflush(stdout);
	for (int k = 0; k < BATCH; k++) {
		iov[k] = (struct iovec){ buffers[k], sizeof(buffers[k]) };
		msgs[k] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[k], .msg_iovlen = 1 } };
	}
	while (no_read && now_ns() < end)
		sleep_ns(100000000);
	while (now_ns() < end) {
		if (recvmmsg(fd, msgs, BATCH, 0, NULL) < 0 && errno != EAGAIN && errno != EINTR)
			die("recvmmsg");
	}
	return 0;
}

static int send_flood(int port, double seconds, double on_ms, double off_ms, size_t size,
		      int batch, const char *log_path)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	static char payload[1024];
	struct mmsghdr msgs[BATCH];
	struct iovec iov = { payload, size };
	uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
	uint64_t on_ns = (uint64_t)(on_ms * 1e6), off_ns = (uint64_t)(off_ms * 1e6);
	unsigned long long sent = 0, bursts = 0, errors = 0;
	FILE *log = NULL;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		die("socket");
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		die("connect");
	if (log_path && !(log = fopen(log_path, "w")))
		die(log_path);
	for (int k = 0; k < BATCH; k++)
		msgs[k] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	while (now_ns() < end) {
		uint64_t t0 = now_ns(), stop = on_ns ? t0 + on_ns : end;
		unsigned long long n = 0;

		if (stop > end)
			stop = end;
		while (now_ns() < stop) {
			int r = sendmmsg(fd, msgs, (unsigned int)batch, 0);

			if (r > 0)
				n += (unsigned long long)r;
			else if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED ||
				 errno == EINTR)
				errors++; /* full backlog, or no receiver yet: go on */
			else
				die("sendmmsg");
		}
		sent += n;
		bursts++;
		if (log) {
			fprintf(log, "%llu %llu %llu\n", (unsigned long long)t0,
				(unsigned long long)now_ns(), n);
			fflush(log);
		}
		if (!on_ns)
			break;
		if (now_ns() + off_ns >= end) {
			sleep_ns(end > now_ns() ? end - now_ns() : 0);
			break;
		}
		sleep_ns(off_ns);
	}
	if (log && fclose(log))
		die(log_path);
	printf("udpflood: sent %llu datagrams in %llu bursts, %llu errors\n", sent, bursts, errors);
	return 0;
}

int main(int argc, char **argv)
{
	int receiver = 0, no_read = 0, port = 0, cpu = -1, fifo = 0;
	double seconds = 10, on_ms = 0, off_ms = 0;
	long size = 16, batch = 1;
	const char *log_path = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--receive")) {
			receiver = 1;
			continue;
		}
		if (!strcmp(a, "--no-read")) {
			no_read = 1;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--cpu"))
			cpu = atoi(v);
		else if (!strcmp(a, "--fifo"))
			fifo = atoi(v);
		else if (!strcmp(a, "--seconds"))
			seconds = atof(v);
		else if (!strcmp(a, "--on-ms"))
			on_ms = atof(v);
		else if (!strcmp(a, "--off-ms"))
			off_ms = atof(v);
		else if (!strcmp(a, "--size"))
			size = atol(v);
		else if (!strcmp(a, "--batch"))
			batch = atol(v);
		else if (!strcmp(a, "--log"))
			log_path = v;
		else
			usage();
	}
	if (seconds <= 0 || on_ms < 0 || off_ms < 0 || (on_ms > 0) != (off_ms > 0) || size < 1 ||
	    size > 1024 || fifo < 0 || fifo > 99 || batch < 1 || batch > BATCH ||
	    (!receiver && (port < 1 || port > 65535)))
		usage();
	/* A real-time storm must not outlive the test that started it, even
	 * when that test was killed with SIGKILL. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
		return 1;
	if (cpu >= 0)
		pin(cpu);
	if (fifo > 0) {
		struct sched_param param = { .sched_priority = fifo };

		if (sched_setscheduler(0, SCHED_FIFO, &param))
			die("sched_setscheduler");
	}
	if (receiver)
		return receive(seconds, no_read);
	return send_flood(port, seconds, on_ms, off_ms, (size_t)size, (int)batch, log_path);
}

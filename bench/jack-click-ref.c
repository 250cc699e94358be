/*
 * A JACK-native reference click generator: the reference that cannot move. Registers NAME:out,
 * connects it to DEST, and writes a rectangular pulse (amplitude 0.5, PULSE frames) at
 * START + k·INTERVAL for k = 0 … COUNT−1, on the system clock (CLOCK_REALTIME).
 *
 * Time comes from the driver's own schedule, not JACK's DLL: the dummy driver wakes at deadlines
 * exactly one period apart on CLOCK_MONOTONIC, and a process callback runs late, never early, so
 * the earliest (entry time − frames·period) seen is the schedule's phase. Frame f of the stream is
 * then at anchor + f / rate, mapped to CLOCK_REALTIME by an offset read at start (the bench does not
 * step the system clock). After an xrun, the earliest phase of the next CANDIDATE_CYCLES callbacks
 * later than the anchor by MOVED_NS means the driver restarted its schedule: it is the new anchor.
 *
 *   jack-click-ref NAME DEST START_REALTIME_NS INTERVAL_NS COUNT PULSE_FRAMES
 */
#include <jack/jack.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static jack_client_t *client;
static jack_port_t *port;
static double rate;
static int64_t start_rt_ns, interval_ns, mono_minus_rt_ns;
static int count, pulse;
static uint64_t frames_done;
static int64_t anchor_ns; /* CLOCK_MONOTONIC ns of stream frame 0 by the earliest callback */
static int anchored;
static volatile int xruns;
/* After an xrun: callbacks watched (~0.34 s at 1024 frames), and how much later their earliest phase
 * must be to mean a restarted schedule (ns): realtime callbacks here come within tens of µs. */
#define CANDIDATE_CYCLES 16
#define MOVED_NS 500000
static int cand_n = -1;
static int64_t cand_ns;
static int seen_xruns;
static volatile sig_atomic_t stop;

static int64_t now_ns(clockid_t c) { struct timespec t; clock_gettime(c, &t); return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec; }

static int process(jack_nframes_t n, void *arg) {
  (void)arg;
  int64_t entry = now_ns(CLOCK_MONOTONIC);
  int64_t phase = entry - (int64_t)llround((double)frames_done * 1e9 / rate);
  /* An xrun may have restarted the driver's schedule (later: its deadline was missed) or only made a
   * client late. The earliest phase of the next CANDIDATE_CYCLES callbacks says which. */
  if (seen_xruns != xruns) { seen_xruns = xruns; cand_n = 0; cand_ns = INT64_MAX; }
  if (!anchored || phase < anchor_ns) { anchor_ns = phase; anchored = 1; }
  if (cand_n >= 0) {
    if (phase < cand_ns) cand_ns = phase;
    if (++cand_n >= CANDIDATE_CYCLES) {
      if (cand_ns > anchor_ns + MOVED_NS) anchor_ns = cand_ns; /* the schedule restarted, later */
      cand_n = -1;
    }
  }
  float *out = jack_port_get_buffer(port, n);
  memset(out, 0, n * sizeof *out);
  const double frame_ns = 1e9 / rate, per = (double)interval_ns / frame_ns;
  for (jack_nframes_t i = 0; i < n; i++) {
    /* this frame's CLOCK_REALTIME instant on the schedule, in frames since START */
    int64_t t = anchor_ns + (int64_t)llround((double)(frames_done + i) * frame_ns) - mono_minus_rt_ns;
    double fpos = (double)(t - start_rt_ns) / frame_ns;
    long k = (long)floor((fpos + 0.5) / per);
    if (k < 0 || k >= count) continue;
    double rel = fpos - (double)k * per; /* frames since pulse k's instant: the nearest frame starts it */
    if (rel >= -0.5 && rel < pulse - 0.5) out[i] = 0.5f;
  }
  frames_done += n;
  return 0;
}

static int on_xrun(void *arg) { (void)arg; xruns++; return 0; }
static void on_signal(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
  if (argc != 7) { fprintf(stderr, "usage: %s NAME DEST START_REALTIME_NS INTERVAL_NS COUNT PULSE_FRAMES\n", argv[0]); return 2; }
  start_rt_ns = atoll(argv[3]);
  interval_ns = atoll(argv[4]);
  count = atoi(argv[5]);
  pulse = atoi(argv[6]);
  client = jack_client_open(argv[1], JackNoStartServer, NULL);
  if (!client) { fprintf(stderr, "jack-click-ref: no JACK server\n"); return 1; }
  rate = jack_get_sample_rate(client);
  /* CLOCK_MONOTONIC − CLOCK_REALTIME: the tightest of many bracketed reads */
  int64_t best = INT64_MAX;
  for (int i = 0; i < 2000; i++) {
    int64_t a = now_ns(CLOCK_MONOTONIC), r = now_ns(CLOCK_REALTIME), b = now_ns(CLOCK_MONOTONIC);
    if (b - a < best) { best = b - a; mono_minus_rt_ns = a + (b - a) / 2 - r; }
  }
  port = jack_port_register(client, "out", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
  jack_set_process_callback(client, process, NULL);
  jack_set_xrun_callback(client, on_xrun, NULL);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  if (jack_activate(client)) { fprintf(stderr, "jack-click-ref: cannot activate\n"); return 1; }
  /* Memory pressure must not make the reference's realtime callback late. */
  if (mlockall(MCL_CURRENT)) perror("jack-click-ref: mlockall (a loaded run may xrun)");
  if (jack_connect(client, jack_port_name(port), argv[2])) { fprintf(stderr, "jack-click-ref: cannot connect to %s\n", argv[2]); return 1; }
  printf("ready\n");
  fflush(stdout);
  int64_t end = start_rt_ns + (int64_t)count * interval_ns + 500000000LL;
  while (!stop && now_ns(CLOCK_REALTIME) < end) usleep(20000);
  jack_deactivate(client);
  jack_client_close(client);
  printf("xruns %d\n", xruns);
  /* Its schedule's phase at the end (CLOCK_MONOTONIC ns of stream frame 0): --keep compares it with the recorder's. */
  printf("anchor %lld frames %llu\n", (long long)anchor_ns, (unsigned long long)frames_done);
  return 0;
}

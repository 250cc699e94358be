/*
 * A JACK recorder that timestamps every cycle: registers input ports NAME:in_1..in_N, records them
 * into RAM, and notes for each process cycle the JACK time (jack_get_cycle_times) at which its first
 * frame is presented, the CLOCK_MONOTONIC instant its callback was entered (the driver's own
 * schedule, read late but never early: the bench anchors on the earliest callback rather than
 * JACK's DLL) and JACK's frame counter (a callback run late, in a later cycle, reads that cycle's). Xruns are
 * counted through jack_set_xrun_callback with the frame they happened at. Its memory is locked and
 * touched before it starts, so that memory pressure cannot make its realtime callback late.
 * At the end it writes the samples (float32, interleaved), the cycle stamps ("frame usecs
 * mono_ns jack_frame"), a bracketed pair (jack_get_time, CLOCK_REALTIME) to map JACK time onto the system
 * clock, and OUTPREFIX.meta: CLOCK_MONOTONIC − CLOCK_REALTIME and one "xrun FRAME" line per xrun.
 * Used by bench/start-error.ts and the two-player test.
 *
 *   jack-rec-stamped NAME CHANNELS SECONDS OUTPREFIX
 */
#include <jack/jack.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static jack_client_t *client;
static jack_port_t **ports;
static int channels;
static float *samples;
static size_t capacity_frames, frames_done;
static struct stamp { uint64_t frame; jack_time_t usecs; int64_t mono_ns; jack_nframes_t jack_frame; } *stamps;
static uint64_t xrun_frames[4096];
static volatile int n_xruns;

static int64_t now_ns(clockid_t c) { struct timespec t; clock_gettime(c, &t); return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec; }

static int on_xrun(void *arg) {
  (void)arg;
  if (n_xruns < 4096) xrun_frames[n_xruns] = frames_done;
  n_xruns++;
  return 0;
}
static size_t max_stamps, n_stamps;
static volatile sig_atomic_t stop;

static int process(jack_nframes_t n, void *arg) {
  (void)arg;
  int64_t entry = now_ns(CLOCK_MONOTONIC);
  jack_nframes_t cur_frames; jack_time_t cur_usecs, next_usecs; float period_usecs;
  jack_get_cycle_times(client, &cur_frames, &cur_usecs, &next_usecs, &period_usecs);
  if (frames_done + n > capacity_frames || n_stamps >= max_stamps) { stop = 1; return 0; }
  stamps[n_stamps].frame = frames_done;
  stamps[n_stamps].usecs = cur_usecs;
  stamps[n_stamps].mono_ns = entry;
  stamps[n_stamps].jack_frame = cur_frames;
  n_stamps++;
  for (int c = 0; c < channels; c++) {
    const float *in = jack_port_get_buffer(ports[c], n);
    for (jack_nframes_t i = 0; i < n; i++) samples[(frames_done + i) * channels + c] = in[i];
  }
  frames_done += n;
  return 0;
}

static void on_signal(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: %s NAME CHANNELS SECONDS OUTPREFIX\n", argv[0]); return 2; }
  channels = atoi(argv[2]);
  double seconds = atof(argv[3]);
  client = jack_client_open(argv[1], JackNoStartServer, NULL);
  if (!client) { fprintf(stderr, "jack-rec-stamped: no JACK server\n"); return 1; }
  jack_nframes_t rate = jack_get_sample_rate(client);
  capacity_frames = (size_t)(seconds * rate) + 8192;
  samples = calloc(capacity_frames * channels, sizeof(float));
  max_stamps = capacity_frames / 16 + 16;
  stamps = calloc(max_stamps, sizeof *stamps);
  ports = calloc(channels, sizeof *ports);
  if (!samples || !stamps || !ports) { fprintf(stderr, "jack-rec-stamped: out of memory\n"); return 1; }
  /* calloc's pages are mapped on first write: touch them now (they are locked once active). */
  memset(samples, 0, capacity_frames * channels * sizeof(float));
  memset(stamps, 0, max_stamps * sizeof *stamps);
  for (int c = 0; c < channels; c++) {
    char name[32];
    snprintf(name, sizeof name, "in_%d", c + 1);
    ports[c] = jack_port_register(client, name, JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
  }
  jack_set_process_callback(client, process, NULL);
  jack_set_xrun_callback(client, on_xrun, NULL);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  if (jack_activate(client)) { fprintf(stderr, "jack-rec-stamped: cannot activate\n"); return 1; }
  /* Everything mapped now (buffers, libraries, JACK's thread) stays in RAM. */
  if (mlockall(MCL_CURRENT)) perror("jack-rec-stamped: mlockall (a loaded run may xrun)");
  printf("ready %u\n", rate);
  fflush(stdout);
  while (!stop && frames_done < (size_t)(seconds * rate)) usleep(10000);
  /* JACK time against the system clock: the tightest of many bracketed reads. */
  jack_time_t best_gap = (jack_time_t)-1, best_jack = 0; struct timespec best_rt = {0, 0};
  for (int i = 0; i < 2000; i++) {
    jack_time_t a = jack_get_time(); struct timespec rt; clock_gettime(CLOCK_REALTIME, &rt); jack_time_t b = jack_get_time();
    if (b - a < best_gap) { best_gap = b - a; best_jack = a + (b - a) / 2; best_rt = rt; }
  }
  jack_deactivate(client);
  char path[4096];
  snprintf(path, sizeof path, "%s.f32", argv[4]);
  FILE *f = fopen(path, "wb"); fwrite(samples, sizeof(float), frames_done * channels, f); fclose(f);
  snprintf(path, sizeof path, "%s.stamps", argv[4]);
  f = fopen(path, "w");
  fprintf(f, "rate %u channels %d frames %zu\nmap %llu %lld.%09ld %llu\n", rate, channels, frames_done,
          (unsigned long long)best_jack, (long long)best_rt.tv_sec, best_rt.tv_nsec, (unsigned long long)best_gap);
  for (size_t i = 0; i < n_stamps; i++) fprintf(f, "%llu %llu %lld %u\n", (unsigned long long)stamps[i].frame, (unsigned long long)stamps[i].usecs, (long long)stamps[i].mono_ns, stamps[i].jack_frame);
  fclose(f);
  /* CLOCK_MONOTONIC − CLOCK_REALTIME, the tightest of many bracketed reads; the xruns. */
  int64_t best_mr = INT64_MAX, mono_minus_rt = 0;
  for (int i = 0; i < 2000; i++) {
    int64_t a = now_ns(CLOCK_MONOTONIC), r = now_ns(CLOCK_REALTIME), b = now_ns(CLOCK_MONOTONIC);
    if (b - a < best_mr) { best_mr = b - a; mono_minus_rt = a + (b - a) / 2 - r; }
  }
  snprintf(path, sizeof path, "%s.meta", argv[4]);
  f = fopen(path, "w");
  fprintf(f, "monominusrealtime %lld\nxruns %d\n", (long long)mono_minus_rt, n_xruns);
  for (int i = 0; i < n_xruns && i < 4096; i++) fprintf(f, "xrun %llu\n", (unsigned long long)xrun_frames[i]);
  fclose(f);
  jack_client_close(client);
  return 0;
}

/* hpsearch: one binary, many subcommands. The table below is the whole list,
 * and everything `hpsearch help CMD` says about a command (its arguments and
 * every option) is in its row; adding a subcommand is adding a row. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "hpsearch/blas.h"
#include "hpsearch/version.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

/* Options several commands share. */
#define OPT_SOCKET                                                                        \
  {"--socket", "PATH",                                                                    \
   "the daemon's Unix socket (default $HPSEARCH_SOCKET, else "                            \
   "$XDG_RUNTIME_DIR/hpsearch/hpsearch.sock, else /tmp/hpsearch-$UID/hpsearch.sock)"}
#define OPT_DB                                                                            \
  {"--db", "FILE|URL",                                                                    \
   "read this study database (a file, or postgresql://USER@HOST[:PORT]/DB) directly "     \
   "(read-only, works while daemons write it) instead of asking the daemon"}
#define OPT_JSON(what) {"--json", NULL, "print " what " as one JSON line"}

static const hp_cmd_t commands[] = {
    {"train", hp_cmd_train, "CONFIG.json", "train one network with the embedded engine",
     "Trains the network CONFIG.json describes (docs/engine.md) and prints one JSON result "
     "line on stdout (losses, accuracies, test accuracy, seconds, samples/s, status ok or "
     "diverged); one progress line per epoch goes to stderr. Exit code 5 when training "
     "diverged.",
     {{"--set", "KEY=VALUE",
       "override a config field by dotted path (repeatable; --set=KEY=VALUE works too), "
       "e.g. --set optimizer.lr=0.01 --set layers[0].units=128"},
      {"-q, --quiet", NULL, "no per-epoch progress lines"}},
     true, false},
    {"daemon", hp_cmd_daemon, "", "run the search daemon (socket, database, workers) in the foreground",
     "Runs the daemon in the foreground and logs to stderr; SIGTERM or SIGINT (or "
     "`hpsearch shutdown`) stop it cleanly. Every option also takes the form --OPTION=VALUE.",
     {{"--db", "FILE|URL",
       "study database: a SQLite file (default ./hpsearch.db, created if missing) or "
       "postgresql://USER@HOST[:PORT]/DB (also ?host=/socket/dir), shared with other daemons "
       "(docs/scale-out.md)"},
      OPT_SOCKET,
      {"--jobs", "N", "most worker processes at once, 1..1024 (default: number of cores)"},
      {"--optuna-schema", "3.1|3.2",
       "schema of a NEW database: 3.2 (default; Optuna 3.2 and later, 5.x, read it) or 3.1 "
       "(Debian's Optuna 3.1 reads it); an existing file keeps its own, and must match when "
       "this is given"},
      {"--executor", "JSON",
       "where new studies with an objective and no \"executor\" of their own run their "
       "trials, e.g. '{\"type\": \"slurm\", \"partition\": \"gpu\"}' (written into "
       "their spec; docs/study-spec.md)"},
      {"--worker-addr", "HOST[:PORT]",
       "where the workers of Slurm jobs connect back to this daemon (a TCP listener opened "
       "for the first Slurm study; default: this host's name, any free port; docs/daemon.md)"}},
     true, false},
    {"worker", hp_cmd_worker, "", "train one engine trial for the daemon (internal)",
     "Trains one engine trial and prints JSON lines on stdout (docs/study-spec.md). The "
     "daemon runs this; it is not meant to be typed.",
     {{"--config-json", "JSON", "the trial's engine config as JSON text"},
      {"--config", "FILE", "the trial's engine config as a file (instead of --config-json)"},
      {"--metric", "NAME", "val_loss (default), val_accuracy, train_loss or train_accuracy"},
      {"--parent", "PID", "die with process PID (the daemon)"}},
     true, true},
    {"supervise", hp_cmd_supervise, "[--parent PID] -- PROG [ARGS...]",
     "run one command trial and kill all it started when it ends (internal)",
     "Runs PROG as a command trial and kills every process it started when it ends. The "
     "daemon runs this; it is not meant to be typed.",
     {{"--parent", "PID", "die with process PID (the daemon); must come first"}}, false, true},
    {"job", hp_cmd_job, "-- PROG [ARGS...]",
     "run one trial's worker inside a Slurm job and relay its lines to the daemon (internal)",
     "The script of a Slurm job the daemon submits runs this: it starts the trial's worker "
     "(PROG) and sends its output lines to the daemon at $HPSEARCH_JOB_ADDR, authenticated "
     "by $HPSEARCH_JOB_TOKEN, reconnecting when the daemon restarts. It is not meant to be "
     "typed.",
     {{NULL, NULL, NULL}}, false, true},
    {"submit", hp_cmd_submit, "STUDY.json", "send a study to the daemon; --wait follows it and prints the best trial",
     "Sends the study spec STUDY.json (docs/study-spec.md) to the daemon. A command "
     "objective without a cwd gets the folder where submit runs as its cwd.",
     {{"--wait", NULL,
       "follow the study until it is finished, then print its best trial (Ctrl-C only "
       "detaches: the study keeps running)"},
      {"--load-if-exists", NULL,
       "when a study of that name exists, follow it instead of failing"},
      OPT_SOCKET},
     false, false},
    {"status", hp_cmd_status, "[STUDY]", "table of studies, or one study's progress, best and recent trials",
     "Without STUDY, a table of all studies (done/n_trials, counts, best, elapsed, ETA); "
     "with STUDY, its settings, counts, elapsed time and ETA, grid progress, running trials, "
     "the best trial and the most recent trials.",
     {OPT_JSON("the summaries (docs/protocol.md)"),
      {"--watch", NULL,
       "redraw on every event and every 2 s (in place on a terminal); with STUDY it shows "
       "each running trial's step, last value and elapsed time, and ends when the study "
       "finishes"},
      OPT_DB, OPT_SOCKET},
     false, false},
    {"trials", hp_cmd_trials, "STUDY", "every trial of a study",
     "Every trial of STUDY, ordered by number: a table (number, state, value, duration, "
     "parameters, reason), or CSV, or JSON.",
     {OPT_JSON("{\"trials\": [...], \"total\": N}"),
      {"--csv", NULL,
       "print CSV: number,state,value,datetime_start,datetime_complete,duration,"
       "params_NAME...,reason"},
      {"--intermediate", NULL, "with --json: each trial's [step, value] pairs too"},
      OPT_DB, OPT_SOCKET},
     false, false},
    {"best", hp_cmd_best, "STUDY", "the best trial of a study",
     "The best complete trial of STUDY for its direction, with its parameters, results and "
     "learning curve. Exit code 4 when there is no complete trial yet.",
     {OPT_JSON("the trial"), OPT_DB, OPT_SOCKET}, false, false},
    {"importance", hp_cmd_importance, "STUDY", "how much each parameter decides the objective",
     "Ranks the parameters of STUDY by their importance for its objective, from its complete "
     "trials: PED-ANOVA (Optuna 5's default) or fANOVA (Optuna 4's default), normalized to "
     "sum 1 (docs/search.md).",
     {{"--evaluator", "ped-anova|fanova", "the algorithm (default ped-anova)"},
      OPT_JSON("the importance object (docs/protocol.md)"), OPT_DB, OPT_SOCKET},
     false, false},
    {"advise", hp_cmd_advise, "STUDY", "tuning advice drawn from the study's own trials",
     "Statements backed by the study's numbers, each naming its trials: diverged trials and the "
     "range they share, underfitting and overfitting from the learning curves, best values at "
     "the edge of a range, parameters that do not matter, whether the search still improves "
     "(docs/advise.md).",
     {OPT_JSON("the advice object (docs/protocol.md)"), OPT_DB, OPT_SOCKET}, false, false},
    {"stop", hp_cmd_stop, "STUDY", "start no new trials (--kill: end running ones)",
     "Starts no new trial of STUDY; running trials finish unless --kill.",
     {{"--kill", NULL, "also end the running trials (FAIL, \"study stopped\")"}, OPT_SOCKET},
     false, false},
    {"resume", hp_cmd_resume, "STUDY", "continue a stopped study", "Continues a stopped study.",
     {OPT_SOCKET}, false, false},
    {"delete", hp_cmd_delete, "STUDY", "delete a study and its trials",
     "Deletes STUDY and all its trials from the database. A study with running trials is "
     "only deleted with --force.",
     {{"--force", NULL, "delete even while trials run (their workers are killed)"}, OPT_SOCKET},
     false, false},
    {"ask", hp_cmd_ask, "STUDY", "start a trial run by you; prints {\"trial\": N, \"params\": {...}}",
     "Starts a trial of STUDY that you run and prints {\"trial\": N, \"params\": {...}}. Exit "
     "code 7 when the study needs no more trials.",
     {OPT_SOCKET}, false, false},
    {"report", hp_cmd_report, "STUDY TRIAL STEP VALUE | STUDY -o FILE.html",
     "report an intermediate value (exit 6 = prune), or save a study as one HTML file",
     "With TRIAL STEP VALUE: reports an intermediate VALUE (a number, inf, -inf or nan) of "
     "TRIAL at STEP and prints continue (exit 0) or prune (exit 6). With -o: writes the "
     "dashboard's page of STUDY, its data inside, as one self-contained HTML file to send "
     "to someone (no server, nothing loaded from anywhere; docs/dashboard.md).",
     {OPT_SOCKET,
      {"-o, --output", "FILE.html", "write STUDY's page to FILE.html (- for stdout)"},
      {"--db", "FILE", "the database to read for -o (default ./hpsearch.db; read-only)"}},
     false, false},
    {"tell", hp_cmd_tell, "STUDY TRIAL [VALUE...]", "finish a trial started with ask",
     "Finishes TRIAL of STUDY. A complete trial needs its VALUE (a number, inf, -inf or "
     "nan; nan makes it FAIL), one per objective for a study with several directions; a "
     "pruned trial may have one.",
     {{"--state", "STATE", "complete (default), pruned or fail"},
      {"--constraints", "C1,C2,...", "constraint values (c <= 0 is satisfied), stored as Optuna's"},
      {"--reason", "TEXT", "why the trial was pruned or failed (shown by trials)"},
      OPT_SOCKET},
     false, false},
    {"dashboard", hp_cmd_dashboard, "",
     "serve a web page of a database's studies; prints its address",
     "Serves the studies of a database as a web page and prints one address with a random "
     "token (requests without it get 403). Works on any Optuna-schema SQLite file without a "
     "daemon (read-only); when a daemon owns the file the page follows its events live and "
     "can stop, resume and enqueue through it. Ctrl-C stops (docs/dashboard.md).",
     {{"--db", "FILE", "the study database (default ./hpsearch.db; opened read-only)"},
      {"--listen", "ADDR:PORT",
       "address to listen on (default 127.0.0.1:0, loopback, any free port; a numeric "
       "address, [::1]:PORT for IPv6)"},
      {"--socket", "PATH",
       "the daemon to follow and act through (default: the one that owns the database, "
       "from its owner record)"}},
     false, false},
    {"db", hp_cmd_db, "info FILE | upgrade FILE",
     "which Optuna reads a database; upgrade an Optuna 3.1 file for Optuna >= 3.2",
     "db info FILE prints the file's alembic revision and which Optuna releases read it; db "
     "upgrade FILE moves an Optuna 3.1 file (v3.0.0.d) to the schema Optuna 3.2 and later "
     "read (v3.2.0.a), as `optuna storage upgrade` does (docs/storage.md).",
     {{NULL, NULL, NULL}}, false, false},
    {"heartbeat", hp_cmd_heartbeat, "STUDY TRIAL",
     "tell the daemon an asked trial's client is alive (--every: until the trial ends)",
     "Sends one heartbeat for TRIAL of STUDY (a study with heartbeat_interval fails a trial "
     "whose client stops beating); with --every, one every SECONDS until the trial is no "
     "longer running, then exits 0.",
     {{"--every", "SECONDS", "beat every SECONDS (> 0) until the trial ends"}, OPT_SOCKET},
     false, false},
    {"shutdown", hp_cmd_shutdown, "", "stop the daemon (waits until it is gone)",
     "Stops the daemon: its workers are stopped, their trials recorded and the database "
     "closed before this returns.",
     {{"--no-wait", NULL, "return at once instead of waiting until the daemon is gone"},
      OPT_SOCKET},
     false, false},
    {"rpc", hp_cmd_rpc, "METHOD [PARAMS_JSON] | REQUEST_JSON", "send one JSON-RPC request, print the reply",
     "Sends one request to the daemon and prints its reply line as it came. METHOD "
     "[PARAMS_JSON] builds {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":METHOD,\"params\":PARAMS}; "
     "an argument starting with '{' is sent as it is, one line (docs/protocol.md). Exit "
     "code 1 when the reply is an error.",
     {OPT_SOCKET}, false, false},
    {"version", cmd_version, "", "print the version (also --version)", "Prints the version.",
     {{NULL, NULL, NULL}}, false, false},
    {"help", cmd_help, "[COMMAND]", "this list, or every option of COMMAND (also COMMAND --help)",
     "Lists the commands, or describes COMMAND and all its options.", {{NULL, NULL, NULL}},
     false, false},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const char *g_prog = "hpsearch";

const char *hp_cli_prog(void) { return g_prog; }

const hp_cmd_t *hp_cmd_find(const char *name) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(name, commands[i].name) == 0) return &commands[i];
  return NULL;
}

static int cmd_version(int argc, char **argv) {
  if (hp_cli_wants_help(argc, argv)) return hp_cli_help(argv[0]);
  if (argc > 1) return hp_cli_usage(argv[0], "takes no arguments");
  printf("hpsearch %s\n", HP_VERSION);
  return HP_EXIT_OK;
}

static int cmd_help(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-h") != 0 && strcmp(argv[1], "--help") != 0) {
    if (argc > 2) return hp_cli_usage("help", "one command at a time");
    if (hp_cmd_find(argv[1]) == NULL) {
      fprintf(stderr, "hpsearch help: unknown command '%s' (try '%s help')\n", argv[1], g_prog);
      return HP_EXIT_USAGE;
    }
    return hp_cli_help(argv[1]);
  }
  if (argc > 1) return hp_cli_help("help");
  printf("usage: %s COMMAND [ARGS]\n\ncommands:\n", g_prog);
  for (size_t i = 0; i < N_COMMANDS; i++) {
    if (commands[i].internal) continue;
    printf("  %-10s %s\n", commands[i].name, commands[i].summary);
  }
  printf("\n%s help COMMAND (or %s COMMAND --help) describes every option\n"
         "of COMMAND; man hpsearch and docs/cli.md tell the rest.\n",
         g_prog, g_prog);
  return HP_EXIT_OK;
}

int main(int argc, char **argv) {
  if (argc > 0 && argv[0] != NULL && argv[0][0] != '\0') g_prog = argv[0];
  if (argc < 2) {
    cmd_help(1, argv);
    return HP_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) return cmd_help(1, argv);
  if (strcmp(argv[1], "--version") == 0) return cmd_version(1, argv);
  const hp_cmd_t *cmd = hp_cmd_find(argv[1]);
  if (cmd == NULL) {
    fprintf(stderr, "hpsearch: unknown command '%s' (try '%s help')\n", argv[1], g_prog);
    return HP_EXIT_USAGE;
  }
  /* Commands that train (and the daemon, whose workers inherit its choice)
   * may re-execute the program here so OpenBLAS loads its fast kernel; the
   * client commands never load OpenBLAS at all. */
  if (cmd->trains) hp_blas_ensure_fast_kernel(argv);
  return cmd->fn(argc - 1, argv + 1);
}

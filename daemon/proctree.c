/* Process trees of trials, read from Linux's /proc: who is whose parent,
 * which process group each belongs to, and killing a whole subtree so that
 * a process that left its trial's process group (setsid) or cleared its
 * environment still goes. Used by the trial supervisor (worker_exec.c), by
 * the daemon for its own strays and at a restart for what a dead daemon
 * left behind. Linux only; nothing here works without /proc. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"

/* pid, ppid, pgrp and state of one /proc/<pid>/stat; false if it is gone. */
static bool read_stat(const char *pid_text, hp_proc_t *out) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%s/stat", pid_text);
  FILE *f = fopen(path, "r");
  if (f == NULL) return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *rp = strrchr(buf, ')'); /* the command name may hold anything */
  int ppid = 0, pgrp = 0;
  char state = '?';
  if (rp == NULL || sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) return false;
  out->pid = (pid_t)atoi(pid_text);
  out->ppid = (pid_t)ppid;
  out->pgrp = (pid_t)pgrp;
  out->state = state;
  return true;
}

int hp_proc_list(hp_proc_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  DIR *proc = opendir("/proc");
  if (proc == NULL) return -errno;
  size_t cap = 256, len = 0;
  hp_proc_t *list = malloc(cap * sizeof *list);
  int rc = list ? 0 : HP_ENOMEM;
  struct dirent *e;
  while (rc == 0 && (e = readdir(proc)) != NULL) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    if (len == cap) {
      hp_proc_t *nl = realloc(list, 2 * cap * sizeof *list);
      if (nl == NULL) {
        rc = HP_ENOMEM;
        break;
      }
      list = nl;
      cap *= 2;
    }
    if (read_stat(e->d_name, &list[len])) len++;
  }
  closedir(proc);
  if (rc < 0) {
    free(list);
    return rc;
  }
  *out = list;
  *n = len;
  return 0;
}

size_t hp_proc_subtree(const hp_proc_t *all, size_t n, pid_t root, pid_t *out, size_t max) {
  /* Breadth first over the parent links: out doubles as the queue. */
  size_t len = 0;
  if (max == 0) return 0;
  out[len++] = root;
  for (size_t head = 0; head < len; head++)
    for (size_t i = 0; i < n && len < max; i++)
      if (all[i].ppid == out[head] && all[i].pid != root && all[i].state != 'Z')
        out[len++] = all[i].pid;
  return len;
}

bool hp_proc_env_has(pid_t pid, const char *entry) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return false;
  /* NUL-separated entries; compare each whole entry */
  size_t want = strlen(entry), pos = 0;
  bool match = true, found = false;
  int ch;
  while (!found && (ch = fgetc(f)) != EOF) {
    if (ch == '\0') {
      found = match && pos == want;
      pos = 0;
      match = true;
    } else {
      match = match && pos < want && ch == entry[pos];
      pos++;
    }
  }
  fclose(f);
  return found;
}

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int hp_proc_kill_tree(pid_t root, bool include_root) {
  /* Stop first: a stopped process cannot fork, so after a few rounds no new
   * member appears, and then everything is killed at once. A killed member's
   * children would otherwise be reparented away before they are found. */
  enum { MAX_TREE = 65536, ROUNDS = 20 };
  pid_t *tree = malloc(MAX_TREE * sizeof *tree);
  if (tree == NULL) return HP_ENOMEM;
  size_t n_tree = 0, before = 0;
  for (int round = 0; round < ROUNDS; round++) {
    hp_proc_t *all = NULL;
    size_t n = 0;
    if (hp_proc_list(&all, &n) < 0) break;
    n_tree = hp_proc_subtree(all, n, root, tree, MAX_TREE);
    free(all);
    if (n_tree == (include_root ? 0u : 1u)) break; /* nothing below root */
    for (size_t i = include_root ? 0 : 1; i < n_tree; i++) kill(tree[i], SIGSTOP);
    if (round > 0 && n_tree == before) break;
    before = n_tree;
    nap_ms(2);
  }
  int killed = 0;
  for (size_t i = include_root ? 0 : 1; i < n_tree; i++)
    if (kill(tree[i], SIGKILL) == 0) killed++;
  free(tree);
  return killed;
}

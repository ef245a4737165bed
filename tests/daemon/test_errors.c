/* The error convention: every hpsearch error code (HP_E*) has a name, a
 * message and exactly one wire code in the RPC edge's table, a client maps
 * each wire code back to a code of that row, and docs/protocol.md's error
 * table lists the same rows (code, name, hpsearch codes); and no call
 * formats an error's message into itself (hp_err_prefix adds context). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpsearch/err.h"
#include "hpsearch/rpc.h"

static void test_every_code_has_a_wire_code(void **state) {
  (void)state;
  for (int code = HP_EINVAL; code < HP_ELAST_; code++) {
    const char *name = hp_err_name(code);
    if (strcmp(name, "HP_EUNKNOWN") == 0) fail_msg("code %d has no name", code);
    if (strcmp(hp_strerror(code), "unknown error") == 0) fail_msg("%s has no message", name);
    int wire = hp_rpc_wire_code(code);
    if (wire == 0) fail_msg("%s has no wire code", name);
    if (strcmp(hp_rpc_error_name(wire), "error") == 0) fail_msg("wire code %d has no name", wire);
    /* A client reads the wire code back as a code with the same wire code. */
    assert_int_equal(hp_rpc_wire_code(hp_rpc_local_code(wire)), wire);
  }
  assert_int_equal(hp_rpc_wire_code(-2), 0); /* an errno: the edge says internal error */
  assert_int_equal(hp_rpc_local_code(-31999), HP_EFORMAT);
}

static int code_by_name(const char *name) {
  for (int code = HP_EINVAL; code < HP_ELAST_; code++)
    if (strcmp(hp_err_name(code), name) == 0) return code;
  return 0;
}

/* Cell i (0-based) of a Markdown table row, trimmed, into buf. */
static void cell(const char *line, int i, char *buf, size_t cap) {
  const char *p = line;
  for (int k = 0; k <= i; k++) {
    p = strchr(p, '|');
    if (p == NULL) {
      buf[0] = '\0';
      return;
    }
    p++;
  }
  while (*p == ' ') p++;
  const char *e = strchr(p, '|');
  size_t n = e ? (size_t)(e - p) : strlen(p);
  while (n > 0 && p[n - 1] == ' ') n--;
  if (n >= cap) n = cap - 1;
  memcpy(buf, p, n);
  buf[n] = '\0';
}

static void test_protocol_doc_table(void **state) {
  (void)state;
  FILE *f = fopen("docs/protocol.md", "r");
  assert_non_null(f);
  char line[2048];
  bool in_table = false;
  int listed[HP_ELAST_ - HP_EINVAL] = {0};
  int rows = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "## Error codes", 14) == 0) in_table = true;
    else if (strncmp(line, "## ", 3) == 0) in_table = false;
    if (!in_table || strncmp(line, "| -3", 4) != 0) continue;
    char wire_s[32], name[64], codes[256];
    cell(line, 0, wire_s, sizeof wire_s);
    cell(line, 1, name, sizeof name);
    cell(line, 2, codes, sizeof codes);
    int wire = atoi(wire_s);
    assert_string_equal(hp_rpc_error_name(wire), name);
    rows++;
    for (char *tok = strtok(codes, ", "); tok; tok = strtok(NULL, ", ")) {
      int code = code_by_name(tok);
      if (code == 0) fail_msg("docs/protocol.md: %s is not an hpsearch code", tok);
      if (hp_rpc_wire_code(code) != wire)
        fail_msg("docs/protocol.md lists %s under %d, the code maps it to %d", tok, wire,
                 hp_rpc_wire_code(code));
      listed[code - HP_EINVAL]++;
    }
  }
  fclose(f);
  assert_int_equal(rows, 15);
  for (int code = HP_EINVAL; code < HP_ELAST_; code++)
    if (listed[code - HP_EINVAL] != 1)
      fail_msg("docs/protocol.md lists %s %d times", hp_err_name(code), listed[code - HP_EINVAL]);
}

/* One C statement of text starting at p (up to its ';'), into buf. */
static const char *statement(const char *p, char *buf, size_t cap) {
  size_t n = 0;
  for (; *p && *p != ';'; p++)
    if (n + 1 < cap) buf[n++] = *p == '\n' ? ' ' : *p;
  buf[n] = '\0';
  return *p ? p + 1 : p;
}

/* Whether tok occurs in s as a whole expression (not inside err.msg when
 * tok is msg). */
static bool has_token(const char *s, const char *tok) {
  size_t n = strlen(tok);
  for (const char *p = strstr(s, tok); p; p = strstr(p + 1, tok)) {
    char before = p > s ? p[-1] : ' ', after = p[n];
    bool ident_b = before == '_' || before == '.' || before == '>' || (before >= 'a' && before <= 'z') ||
                   (before >= 'A' && before <= 'Z') || (before >= '0' && before <= '9');
    bool ident_a = after == '_' || (after >= 'a' && after <= 'z') || (after >= 'A' && after <= 'Z') ||
                   (after >= '0' && after <= '9');
    if (!ident_b && !ident_a) return true;
  }
  return false;
}

/* Counts statements `hp_err_set(X, ..., X->msg / X.msg ...)` and
 * `snprintf(X->msg, ..., X->msg)` in a file. */
static int self_formats(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return 0;
  static char text[1 << 20];
  size_t len = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[len] = '\0';
  int bad = 0;
  /* snprintf(X->msg, ..., X->msg) too */
  for (const char *p = strstr(text, "snprintf("); p; p = strstr(p + 1, "snprintf(")) {
    char st[2048], dst[80];
    statement(p, st, sizeof st);
    if (sscanf(st, "snprintf(%79[^,]", dst) != 1 || strstr(dst, "msg") == NULL) continue;
    const char *args = strchr(st, ','); /* then the size, then the format */
    if (args) args = strchr(args + 1, ',');
    if (args && has_token(args + 1, dst)) {
      fprintf(stderr, "%s: %s\n", path, st);
      bad++;
    }
  }
  for (const char *p = strstr(text, "hp_err_set("); p; p = strstr(p + 1, "hp_err_set(")) {
    char st[2048], var[64], self[80];
    statement(p, st, sizeof st);
    if (sscanf(st, "hp_err_set(%63[^,]", var) != 1) continue;
    const char *name = var[0] == '&' ? var + 1 : var;
    snprintf(self, sizeof self, var[0] == '&' ? "%s.msg" : "%s->msg", name);
    const char *args = strchr(st, ',');
    if (args && has_token(args, self)) {
      fprintf(stderr, "%s: %s\n", path, st);
      bad++;
    }
  }
  return bad;
}

static void test_no_message_formatted_into_itself(void **state) {
  (void)state;
  static const char *const dirs[] = {"common", "engine", "search", "store", "view", "daemon", "cli"};
  int bad = 0, files = 0;
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    DIR *d = opendir(dirs[i]);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
      size_t n = strlen(e->d_name);
      if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0) continue;
      char path[512];
      snprintf(path, sizeof path, "%s/%s", dirs[i], e->d_name);
      bad += self_formats(path);
      files++;
    }
    closedir(d);
  }
  assert_true(files > 30);
  assert_int_equal(bad, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code_has_a_wire_code),
      cmocka_unit_test(test_protocol_doc_table),
      cmocka_unit_test(test_no_message_formatted_into_itself),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

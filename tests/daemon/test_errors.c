/* The error convention: every hpsearch error code (HP_E*) has a name, a
 * message and exactly one wire code in the RPC edge's table, a client maps
 * each wire code back to a code of that row, and docs/protocol.md's error
 * table lists the same rows (code, name, hpsearch codes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code_has_a_wire_code),
      cmocka_unit_test(test_protocol_doc_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The help of one subcommand, printed from its row of the command table
 * (cli/main.c): the usage line, what it does and every option. Usage errors
 * print the same usage line. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

/* Column where option texts start, and the width they are wrapped to. */
#define HELP_TEXT_COL 24
#define HELP_WIDTH 79

/* Prints text wrapped at HELP_WIDTH; lines after the first are indented by
 * `indent` (the first starts at column `col`). */
static void print_wrapped(FILE *out, const char *text, int col, int indent) {
  const char *p = text;
  while (*p != '\0') {
    while (*p == ' ') p++;
    size_t len = strcspn(p, " ");
    if (col > indent && col + 1 + (int)len > HELP_WIDTH) {
      fprintf(out, "\n%*s", indent, "");
      col = indent;
    } else if (col > indent) {
      fputc(' ', out);
      col++;
    }
    fprintf(out, "%.*s", (int)len, p);
    col += (int)len;
    p += len;
  }
  fputc('\n', out);
}

static void print_usage_line(FILE *out, const hp_cmd_t *c) {
  fprintf(out, "usage: %s %s%s%s%s\n", hp_cli_prog(), c->name, c->args[0] ? " " : "", c->args,
          c->opts[0].flag != NULL ? " [options]" : "");
}

bool hp_cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
  return false;
}

int hp_cli_help(const char *cmd) {
  const hp_cmd_t *c = hp_cmd_find(cmd);
  if (c == NULL) return HP_EXIT_USAGE; /* every caller passes its own table name */
  print_usage_line(stdout, c);
  fputc('\n', stdout);
  print_wrapped(stdout, c->about, 0, 0);
  printf("\noptions:\n");
  for (const hp_cmd_opt_t *o = c->opts; o < c->opts + HP_CMD_MAX_OPTS && o->flag != NULL; o++) {
    char head[64];
    int n = snprintf(head, sizeof head, "  %s%s%s", o->flag, o->arg ? " " : "",
                     o->arg ? o->arg : "");
    if (n >= HELP_TEXT_COL - 1) printf("%s\n%*s", head, HELP_TEXT_COL, "");
    else printf("%-*s", HELP_TEXT_COL, head);
    print_wrapped(stdout, o->text, HELP_TEXT_COL, HELP_TEXT_COL);
  }
  printf("%-*s", HELP_TEXT_COL, "  -h, --help");
  print_wrapped(stdout, "print this help", HELP_TEXT_COL, HELP_TEXT_COL);
  fflush(stdout);
  return HP_EXIT_OK;
}

int hp_cli_usage(const char *cmd, const char *what) {
  fprintf(stderr, "hpsearch %s: %s\n", cmd, what);
  const hp_cmd_t *c = hp_cmd_find(cmd);
  if (c != NULL) {
    print_usage_line(stderr, c);
    fprintf(stderr, "(%s help %s describes every option)\n", hp_cli_prog(), cmd);
  }
  return HP_EXIT_USAGE;
}

/* True when `flag` ("-o, --output", "--db") has spelling `word`. */
static bool flag_spelled(const char *flag, const char *word, size_t n) {
  for (const char *f = flag; *f;) {
    size_t len = strcspn(f, ",");
    if (len == n && memcmp(f, word, n) == 0) return true;
    f += len;
    while (*f == ',' || *f == ' ') f++;
  }
  return false;
}

int hp_cli_parse(int argc, char **argv, const hp_cli_arg_t *args, const char **pos, int max_pos,
                 int *n_pos) {
  const hp_cmd_t *c = hp_cmd_find(argv[0]);
  int np = 0;
  if (n_pos) *n_pos = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    /* "-" (stdout, stdin) and negative numbers are values */
    if (a[0] != '-' || a[1] == '\0' || isdigit((unsigned char)a[1]) || a[1] == '.') {
      if (np >= max_pos) {
        char what[300];
        snprintf(what, sizeof what, "unexpected argument '%.200s'%s", a,
                 max_pos == 1 ? " (one only)" : "");
        return hp_cli_usage(argv[0], what);
      }
      pos[np++] = a;
      continue;
    }
    /* --opt=value is the same as --opt value */
    const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
    size_t n = eq ? (size_t)(eq - a) : strlen(a);
    const hp_cmd_opt_t *row = NULL;
    for (const hp_cmd_opt_t *o = c ? c->opts : NULL; o && o < c->opts + HP_CMD_MAX_OPTS && o->flag;
         o++)
      if (flag_spelled(o->flag, a, n)) row = o;
    const hp_cli_arg_t *dst = NULL;
    for (const hp_cli_arg_t *g = args; row && g->flag; g++)
      if (flag_spelled(row->flag, g->flag, strlen(g->flag))) dst = g;
    if (dst == NULL) {
      char what[300];
      snprintf(what, sizeof what, "unknown option '%.*s'", (int)(n < 200 ? n : 200), a);
      return hp_cli_usage(argv[0], what);
    }
    if (row->arg == NULL) {
      if (eq) {
        char what[300];
        snprintf(what, sizeof what, "option %.*s takes no value", (int)(n < 200 ? n : 200), a);
        return hp_cli_usage(argv[0], what);
      }
      *dst->set = true;
    } else if (eq) {
      *dst->value = eq + 1;
    } else if (i + 1 < argc) {
      *dst->value = argv[++i];
    } else {
      char what[300];
      snprintf(what, sizeof what, "option %.200s needs a value (%s)", a, row->arg);
      return hp_cli_usage(argv[0], what);
    }
  }
  if (n_pos) *n_pos = np;
  return 0;
}

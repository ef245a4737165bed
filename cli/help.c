/* The help of one subcommand, printed from its row of the command table
 * (cli/main.c): the usage line, what it does and every option. Usage errors
 * print the same usage line. */
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

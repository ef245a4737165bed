/* The one table that gives every hpsearch error code a name and a message. */
#include "hpsearch/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hpsearch/utf8.h"

static const struct {
  int code;
  const char *name;
  const char *text;
} err_table[] = {
    {HP_OK, "HP_OK", "success"},
    {HP_EINVAL, "HP_EINVAL", "invalid argument"},
    {HP_ENOMEM, "HP_ENOMEM", "out of memory"},
    {HP_EIO, "HP_EIO", "input/output error"},
    {HP_EFORMAT, "HP_EFORMAT", "malformed input"},
    {HP_ENOTFOUND, "HP_ENOTFOUND", "not found"},
    {HP_EEXIST, "HP_EEXIST", "already exists"},
    {HP_ESTATE, "HP_ESTATE", "not allowed in the current state"},
    {HP_EEXHAUSTED, "HP_EEXHAUSTED", "search space exhausted"},
    {HP_EDIVERGED, "HP_EDIVERGED", "training diverged"},
    {HP_EDB, "HP_EDB", "database error"},
    {HP_ETOOBIG, "HP_ETOOBIG", "too large"},
    {HP_ETIMEOUT, "HP_ETIMEOUT", "timed out"},
    {HP_ENOSTUDY, "HP_ENOSTUDY", "unknown study"},
    {HP_ESPEC, "HP_ESPEC", "invalid study spec"},
    {HP_ESTOPPED, "HP_ESTOPPED", "study stopped"},
    {HP_ESHUTDOWN, "HP_ESHUTDOWN", "shutting down"},
    {HP_EPERM, "HP_EPERM", "permission denied"},
    {HP_EREQUEST, "HP_EREQUEST", "invalid request"},
    {HP_ENOMETHOD, "HP_ENOMETHOD", "method not found"},
    {HP_EBUSY, "HP_EBUSY", "in use by another process"},
};

const char *hp_err_name(int code) {
  for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
    if (err_table[i].code == code) return err_table[i].name;
  return code < 0 && code > -4096 ? "ERRNO" : "HP_EUNKNOWN";
}

const char *hp_strerror(int code) {
  for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
    if (err_table[i].code == code) return err_table[i].text;
  if (code < 0 && code > -4096) return strerror(-code);
  return "unknown error";
}

int hp_err_set(hp_err_t *err, int code, const char *fmt, ...) {
  if (err == NULL) return code;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  /* A long message is cut at the buffer's end, never inside a character. */
  if (n >= (int)sizeof err->msg) hp_utf8_trim(err->msg, sizeof err->msg - 1);
  return code;
}

int hp_err_prefix(hp_err_t *err, const char *fmt, ...) {
  if (err == NULL) return 0;
  char pre[HP_ERR_MSG_MAX], old[HP_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  int n = snprintf(err->msg, sizeof err->msg, "%s: %s", pre, old);
  if (n >= (int)sizeof err->msg) hp_utf8_trim(err->msg, sizeof err->msg - 1);
  return err->code;
}

void hp_err_clear(hp_err_t *err) {
  if (err == NULL) return;
  err->code = 0;
  err->msg[0] = '\0';
}

/* The PostgreSQL backend of the study store (placeholder until the libpq
 * backend lands): URLs are refused with a clear message. */
#include "backend.h"

int hp_pg_open(const char *url, unsigned flags, hp_store_t **out, hp_err_t *err) {
  (void)flags;
  *out = NULL;
  return hp_err_set(err, HP_EINVAL, "%s: PostgreSQL databases are not supported by this build yet",
                    url);
}

int hp_pg_upgrade(const char *url, const char **from, hp_err_t *err) {
  if (from) *from = NULL;
  return hp_err_set(err, HP_EINVAL, "%s: PostgreSQL databases are not supported by this build yet",
                    url);
}

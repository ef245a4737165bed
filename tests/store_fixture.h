/* What the store and view tests share: OK(call) fails the test with the
 * store's message when a call that takes &e_ as its error argument does not
 * return 0, and a temporary folder holding one database file, made at setup
 * and removed (with everything in it) at teardown. */
#ifndef HP_TESTS_STORE_FIXTURE_H
#define HP_TESTS_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#define OK(call)                                                   \
  do {                                                             \
    hp_err_t e_ = {0};                                             \
    int rc_ = (call);                                              \
    if (rc_ != 0) fail_msg("%s -> %d: %s", #call, rc_, e_.msg);    \
  } while (0)

/* dir (64 bytes) becomes /tmp/hp-TAG-XXXXXX, made; path (128 bytes)
 * DIR/FILE in it. -1 if the folder cannot be made. */
static inline int hp_test_db_dir(char dir[64], char path[128], const char *tag, const char *file) {
  snprintf(dir, 64, "/tmp/hp-%s-XXXXXX", tag);
  if (mkdtemp(dir) == NULL) return -1;
  snprintf(path, 128, "%s/%s", dir, file);
  return 0;
}

/* Removes the folder of hp_test_db_dir and everything in it. */
static inline int hp_test_db_dir_remove(const char *dir) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

#endif

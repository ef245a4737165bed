/* One daemon per database: an exclusive flock on the database file itself
 * (so a symlink, a hard link or another relative path of the same file is
 * the same database), held for the daemon's whole life, and a small owner
 * record next to the file that a refused daemon reads to name the holder.
 *
 * Why flock on a descriptor of its own: SQLite locks the file with POSIX
 * (fcntl) byte-range locks, which belong to the process and are all dropped
 * when ANY descriptor of the file is closed; flock locks belong to the open
 * file description and are independent of them on Linux local filesystems,
 * so neither disturbs the other, readers (SQLite's shared locks) are never
 * blocked, and the lock goes with the process (kill -9 frees it). The
 * descriptor is O_CLOEXEC: workers and supervisors never hold it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "daemon_int.h"
#include "hpsearch/json.h"

/* The owner record of the database at path: "<real path>-owner". */
static int owner_path(const char *db_path, char *out, size_t len) {
  char real[PATH_MAX];
  if (realpath(db_path, real) == NULL) return -errno;
  int n = snprintf(out, len, "%s-owner", real);
  return n < 0 || (size_t)n >= len ? HP_ETOOBIG : 0;
}

/* The pid holding an flock on the file (dev, ino), from /proc/locks; 0 when
 * none is listed (or /proc/locks cannot be read). A filesystem whose st_dev
 * is not its superblock's (btrfs subvolumes) is matched by inode alone. */
static pid_t locks_holder(dev_t dev, ino_t ino) {
  FILE *f = fopen("/proc/locks", "re");
  if (f == NULL) return 0;
  char line[256];
  pid_t exact = 0, by_ino = 0;
  while (fgets(line, sizeof line, f)) {
    char kind[16];
    int pid;
    unsigned maj, min;
    unsigned long long i;
    /* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" ("->" lines wait). */
    if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%llu", kind, &pid, &maj, &min, &i) != 5) continue;
    if (strcmp(kind, "FLOCK") != 0 || i != (unsigned long long)ino || pid <= 0) continue;
    if (maj == major(dev) && min == minor(dev)) exact = pid;
    else by_ino = pid;
  }
  fclose(f);
  return exact ? exact : by_ino;
}

typedef struct owner_rec {
  long long pid;
  char socket[PATH_MAX];
  char started[32];
} owner_rec_t;

/* Reads the owner record at path; true when it names the file (dev, ino)
 * and a process that is alive (and is `pid` when pid > 0). */
static bool owner_read(const char *path, dev_t dev, ino_t ino, pid_t pid, owner_rec_t *rec) {
  FILE *f = fopen(path, "re");
  if (f == NULL) return false;
  char buf[PATH_MAX + 512];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  cJSON *j = NULL;
  if (hp_json_parse(buf, n, path, &j, NULL) < 0) return false;
  const cJSON *jp = cJSON_GetObjectItem(j, "pid"), *js = cJSON_GetObjectItem(j, "socket");
  const cJSON *jd = cJSON_GetObjectItem(j, "dev"), *ji = cJSON_GetObjectItem(j, "ino");
  const cJSON *jt = cJSON_GetObjectItem(j, "started");
  bool ok = cJSON_IsNumber(jp) && cJSON_IsString(js) && cJSON_IsNumber(jd) && cJSON_IsNumber(ji) &&
            cJSON_IsString(jt) && jd->valuedouble == (double)dev && ji->valuedouble == (double)ino;
  if (ok) {
    rec->pid = (long long)jp->valuedouble;
    snprintf(rec->socket, sizeof rec->socket, "%s", js->valuestring);
    snprintf(rec->started, sizeof rec->started, "%s", jt->valuestring);
    ok = pid > 0 ? rec->pid == pid : rec->pid > 0 && (kill((pid_t)rec->pid, 0) == 0 || errno == EPERM);
  }
  cJSON_Delete(j);
  return ok;
}

/* The holder's own owner record when it reached the file by another name (a
 * hard link in another folder): its descriptors in /proc/PID/fd name it. */
static bool owner_read_via_proc(pid_t pid, dev_t dev, ino_t ino, owner_rec_t *rec) {
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
  for (int fd = 0; fd < 1024; fd++) {
    char link[96], target[PATH_MAX], rp[PATH_MAX];
    snprintf(link, sizeof link, "%s/%d", dir, fd);
    struct stat st;
    if (stat(link, &st) < 0 || st.st_dev != dev || st.st_ino != ino) continue;
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (owner_path(target, rp, sizeof rp) == 0 && owner_read(rp, dev, ino, pid, rec)) return true;
  }
  return false;
}

/* Whether pid is gone or a zombie (its descriptors are closed). */
static bool pid_dead(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "re");
  if (f == NULL) return kill(pid, 0) < 0 && errno == ESRCH;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *paren = strrchr(buf, ')');
  return paren != NULL && (paren[2] == 'Z' || paren[2] == 'X');
}

/* The refusal: who holds the database, as far as it can be found. */
static int refuse(const char *db_path, dev_t dev, ino_t ino, hp_err_t *err) {
  pid_t pid = locks_holder(dev, ino);
  owner_rec_t rec;
  char rp[PATH_MAX];
  bool found = (owner_path(db_path, rp, sizeof rp) == 0 && owner_read(rp, dev, ino, pid, &rec)) ||
               (pid > 0 && owner_read_via_proc(pid, dev, ino, &rec));
  if (found)
    return hp_err_set(err, HP_EBUSY,
                      "database %s is in use by another hpsearch daemon (pid %lld, socket %s, "
                      "started %s); stop it with 'hpsearch shutdown --socket %s', or use "
                      "another --db",
                      db_path, rec.pid, rec.socket, rec.started, rec.socket);
  if (pid > 0)
    return hp_err_set(err, HP_EBUSY,
                      "database %s is in use by another hpsearch daemon (pid %d; its socket is "
                      "not known: no owner record); stop that process, or use another --db",
                      db_path, (int)pid);
  return hp_err_set(err, HP_EBUSY,
                    "database %s is in use by another hpsearch daemon (its pid is not known); "
                    "use another --db",
                    db_path);
}

int hp_dblock_acquire(hp_dblock_t *lk, const char *db_path, hp_err_t *err) {
  memset(lk, 0, sizeof *lk);
  lk->fd = -1;
  /* A missing file is created empty (SQLite writes the schema later, under
   * the lock): two daemons racing on a new file both open the same inode
   * (O_CREAT without O_EXCL) and only one gets the lock. The path is
   * checked again once locked, in case the file was replaced meanwhile. */
  for (int attempt = 0; attempt < 3; attempt++) {
    int fd = open(db_path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) return hp_err_set(err, -errno, "%s: cannot open database: %s", db_path, strerror(errno));
    struct stat st, now;
    if (fstat(fd, &st) < 0) {
      int e = errno;
      close(fd);
      return hp_err_set(err, -e, "%s: %s", db_path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      close(fd);
      return hp_err_set(err, HP_EINVAL, "%s is not a regular file", db_path);
    }
    int rc, e = 0;
    /* A daemon killed while it was starting a worker leaves the lock, for
     * the moment until that child's exec closes the descriptor, with a
     * process /proc/locks does not name (it names the dead locker): wait
     * that moment out (at most 2 s) instead of refusing. */
    for (int wait = 0;; wait++) {
      while ((rc = flock(fd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR) {}
      e = rc < 0 ? errno : 0;
      if (rc == 0 || e != EWOULDBLOCK || wait >= 100) break;
      pid_t holder = locks_holder(st.st_dev, st.st_ino);
      if (holder <= 0 || !pid_dead(holder)) break;
      usleep(20000);
    }
    if (rc < 0) {
      close(fd);
      if (e == EWOULDBLOCK) return refuse(db_path, st.st_dev, st.st_ino, err);
      return hp_err_set(err, -e, "%s: cannot lock the database: %s", db_path, strerror(e));
    }
    if (stat(db_path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino) {
      lk->fd = fd;
      lk->dev = st.st_dev;
      lk->ino = st.st_ino;
      return 0;
    }
    close(fd); /* renamed or removed between open and lock: again */
  }
  return hp_err_set(err, HP_EBUSY, "%s: the file keeps being replaced; not starting", db_path);
}

int hp_dblock_publish(hp_dblock_t *lk, const char *db_path, const char *socket_path,
                      hp_err_t *err) {
  if (owner_path(db_path, lk->owner, sizeof lk->owner) < 0) {
    lk->owner[0] = '\0';
    return hp_err_set(err, HP_EINVAL, "%s: cannot resolve the path for its owner record", db_path);
  }
  char sock[PATH_MAX], cwd[PATH_MAX];
  if (socket_path[0] == '/' || getcwd(cwd, sizeof cwd) == NULL)
    snprintf(sock, sizeof sock, "%s", socket_path);
  else
    snprintf(sock, sizeof sock, "%s/%s", cwd, socket_path);
  char started[32];
  time_t t = time(NULL);
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(started, sizeof started, "%Y-%m-%d %H:%M:%S", &tm);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "pid", (double)getpid());
  cJSON_AddStringToObject(j, "socket", sock);
  cJSON_AddStringToObject(j, "started", started);
  cJSON_AddNumberToObject(j, "dev", (double)lk->dev);
  cJSON_AddNumberToObject(j, "ino", (double)lk->ino);
  char *text = hp_json_print(j);
  cJSON_Delete(j);
  /* Written aside and renamed: a refused daemon never reads half of it. */
  char tmp[PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s.%d", lk->owner, (int)getpid());
  FILE *f = text ? fopen(tmp, "we") : NULL;
  bool ok = f != NULL && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
  if (f != NULL && fclose(f) != 0) ok = false;
  free(text);
  if (ok && rename(tmp, lk->owner) == 0) return 0;
  int e = errno;
  unlink(tmp);
  lk->owner[0] = '\0';
  return hp_err_set(err, -e, "%s-owner: cannot write the owner record: %s", db_path, strerror(e));
}

void hp_dblock_release(hp_dblock_t *lk) {
  if (lk->fd < 0) return;
  /* The record goes first, while the lock still keeps a next daemon from
   * writing its own. */
  owner_rec_t rec;
  if (lk->owner[0] && owner_read(lk->owner, lk->dev, lk->ino, getpid(), &rec)) unlink(lk->owner);
  lk->owner[0] = '\0';
  close(lk->fd);
  lk->fd = -1;
}

int hp_dblock_owner(const char *db_path, char *socket, size_t len, long long *pid, hp_err_t *err) {
  struct stat st;
  if (stat(db_path, &st) < 0) return hp_err_set(err, -errno, "%s: %s", db_path, strerror(errno));
  pid_t holder = locks_holder(st.st_dev, st.st_ino);
  owner_rec_t rec;
  char rp[PATH_MAX];
  bool found = (owner_path(db_path, rp, sizeof rp) == 0 &&
                owner_read(rp, st.st_dev, st.st_ino, holder, &rec)) ||
               (holder > 0 && owner_read_via_proc(holder, st.st_dev, st.st_ino, &rec));
  /* A record whose process is alive but holds no lock is a leftover (the
   * pid was reused): only a holder of the lock is the database's daemon. */
  if (!found || holder <= 0)
    return hp_err_set(err, HP_ENOTFOUND, "no hpsearch daemon owns %s", db_path);
  if (strlen(rec.socket) >= len)
    return hp_err_set(err, HP_ETOOBIG, "the socket path of %s's daemon is too long", db_path);
  memcpy(socket, rec.socket, strlen(rec.socket) + 1);
  if (pid) *pid = rec.pid;
  return 0;
}

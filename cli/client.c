/* Socket client for the daemon's JSON-RPC protocol (see hpsearch/client.h).
 * Blocking socket + poll() for deadlines: a CLI call is one short exchange,
 * so an event loop would only add start-up cost. */
#include "hpsearch/client.h"

#include "commands.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hpsearch/json.h"
#include "hpsearch/rpc.h"

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until `deadline` (-1 = none) for poll(). */
static int left_ms(long long deadline) {
  if (deadline < 0) return -1;
  long long l = deadline - now_ms();
  return l < 0 ? 0 : (int)(l > 1000000000 ? 1000000000 : l);
}

int hp_client_connect(hp_client_t *c, const char *path, bool explicit_path, int timeout_ms,
                      hp_err_t *err) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->timeout_ms = timeout_ms;
  c->next_id = 1;
  if (path == NULL) {
    int rc = hp_rpc_default_socket_path(c->path, sizeof c->path);
    if (rc < 0) return hp_err_set(err, rc, "default socket path is too long (over %zu bytes)",
                                  sizeof c->path - 1);
  } else {
    if (strlen(path) >= sizeof c->path)
      return hp_err_set(err, HP_ETOOBIG, "socket path '%s' is too long (over %zu bytes)", path,
                        sizeof c->path - 1);
    snprintf(c->path, sizeof c->path, "%s", path);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return hp_err_set(err, -errno, "socket: %s", strerror(errno));
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) {
      char how[200];
      if (explicit_path) snprintf(how, sizeof how, "%.60s daemon --socket %s &", hp_cli_prog(), c->path);
      else snprintf(how, sizeof how, "%.60s daemon &", hp_cli_prog());
      return hp_err_set(err, HP_CLIENT_ENODAEMON,
                        "no hpsearch daemon is running on %s (%s); start one with: %s", c->path,
                        strerror(e), how);
    }
    if (e == EACCES || e == EPERM)
      return hp_err_set(err, -e, "cannot connect to %s: %s (the daemon belongs to another user?)",
                        c->path, strerror(e));
    return hp_err_set(err, -e, "cannot connect to %s: %s", c->path, strerror(e));
  }
  c->fd = fd;
  return 0;
}

void hp_client_close(hp_client_t *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  free(c->buf);
  c->buf = NULL;
  c->start = c->len = c->scanned = c->cap = 0;
  cJSON_Delete(c->rpc_data);
  c->rpc_data = NULL;
  cJSON_Delete(c->pending);
  c->pending = NULL;
}

/* Writes all of buf before the deadline. */
static int write_all(hp_client_t *c, const char *buf, size_t len, long long deadline,
                     hp_err_t *err) {
  while (len > 0) {
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      buf += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return hp_err_set(err, HP_EIO, "sending to the daemon on %s: %s", c->path,
                        strerror(errno));
    struct pollfd p = {.fd = c->fd, .events = POLLOUT};
    int pr = poll(&p, 1, left_ms(deadline));
    if (pr < 0 && errno != EINTR) return hp_err_set(err, -errno, "poll: %s", strerror(errno));
    if (pr == 0)
      return hp_err_set(err, HP_ETIMEOUT, "the daemon on %s did not take the request in time",
                        c->path);
  }
  return 0;
}

int hp_client_send_raw(hp_client_t *c, const char *line, size_t len, hp_err_t *err) {
  if (c->fd < 0) return hp_err_set(err, HP_ESTATE, "not connected");
  long long deadline = c->timeout_ms < 0 ? -1 : now_ms() + c->timeout_ms;
  /* Append the newline in the same send when it fits a stack buffer, so the
   * daemon sees one segment; else two writes (still one message). */
  char small[4096];
  if (len < sizeof small) {
    memcpy(small, line, len);
    small[len] = '\n';
    return write_all(c, small, len + 1, deadline, err);
  }
  int rc = write_all(c, line, len, deadline, err);
  if (rc == 0) rc = write_all(c, "\n", 1, deadline, err);
  return rc;
}

int hp_client_send(hp_client_t *c, const char *method, cJSON *params, long long *id_out,
                   hp_err_t *err) {
  int rc = 0;
  char *text = NULL;
  cJSON *req = cJSON_CreateObject();
  if (req == NULL) {
    cJSON_Delete(params);
    return hp_err_set(err, HP_ENOMEM, "out of memory");
  }
  /* Arguments that are not UTF-8 are refused here, not sent mangled. */
  if (params != NULL && (rc = hp_json_check_text(params, "params", err)) < 0) {
    cJSON_Delete(params);
    cJSON_Delete(req);
    return rc;
  }
  long long id = c->next_id++;
  cJSON_AddStringToObject(req, "jsonrpc", "2.0");
  cJSON_AddNumberToObject(req, "id", (double)id);
  cJSON_AddStringToObject(req, "method", method);
  if (params != NULL) cJSON_AddItemToObject(req, "params", params);
  text = hp_json_print(req);
  if (text == NULL) {
    rc = hp_err_set(err, HP_ENOMEM, "out of memory");
    goto done;
  }
  rc = hp_client_send_raw(c, text, strlen(text), err);
  if (rc == 0 && id_out != NULL) *id_out = id;
done:
  free(text);
  cJSON_Delete(req);
  return rc;
}

int hp_client_recv_line(hp_client_t *c, int timeout_ms, const char **line, size_t *len,
                        hp_err_t *err) {
  if (c->fd < 0) return hp_err_set(err, HP_ESTATE, "not connected");
  long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
  for (;;) {
    char *nl = c->scanned < c->len ? memchr(c->buf + c->scanned, '\n', c->len - c->scanned)
                                   : NULL;
    if (nl != NULL) {
      *line = c->buf + c->start;
      *len = (size_t)(nl - (c->buf + c->start));
      *nl = '\0';
      c->start = c->scanned = (size_t)(nl - c->buf) + 1;
      return 0;
    }
    c->scanned = c->len;
    if (c->len - c->start >= HP_CLIENT_MAX_REPLY)
      return hp_err_set(err, HP_ETOOBIG, "a reply from the daemon exceeds %u bytes",
                        HP_CLIENT_MAX_REPLY);
    /* Make room: slide the unread part to the front, then grow. */
    if (c->start > 0 && (c->start == c->len || c->cap - c->len < 65536)) {
      memmove(c->buf, c->buf + c->start, c->len - c->start);
      c->len -= c->start;
      c->scanned -= c->start;
      c->start = 0;
    }
    if (c->cap - c->len < 65536) {
      size_t cap = c->cap ? c->cap * 2 : 131072;
      char *nb = realloc(c->buf, cap);
      if (nb == NULL) return hp_err_set(err, HP_ENOMEM, "out of memory reading a reply");
      c->buf = nb;
      c->cap = cap;
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, MSG_DONTWAIT);
    if (n > 0) {
      c->len += (size_t)n;
      continue;
    }
    if (n == 0)
      return hp_err_set(err, HP_EIO, "the daemon on %s closed the connection", c->path);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return hp_err_set(err, HP_EIO, "reading from the daemon on %s: %s", c->path,
                        strerror(errno));
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int pr = poll(&p, 1, left_ms(deadline));
    if (pr < 0 && errno != EINTR) return hp_err_set(err, -errno, "poll: %s", strerror(errno));
    if (pr == 0)
      return hp_err_set(err, HP_ETIMEOUT, "no reply from the daemon on %s within %d ms",
                        c->path, timeout_ms);
  }
}

/* Next message from the socket itself (not the pending queue). */
static int recv_wire(hp_client_t *c, int timeout_ms, cJSON **msg, hp_err_t *err) {
  const char *line;
  size_t len;
  *msg = NULL;
  int rc = hp_client_recv_line(c, timeout_ms, &line, &len, err);
  if (rc < 0) return rc;
  return hp_json_parse(line, len, "reply from the daemon", msg, err);
}

int hp_client_recv(hp_client_t *c, int timeout_ms, cJSON **msg, hp_err_t *err) {
  *msg = NULL;
  if (c->pending != NULL && c->pending->child != NULL) {
    *msg = cJSON_DetachItemFromArray(c->pending, 0);
    return 0;
  }
  return recv_wire(c, timeout_ms, msg, err);
}

int hp_client_reply_result(hp_client_t *c, cJSON *msg, const char *method, cJSON **result,
                           hp_err_t *err) {
  *result = NULL;
  cJSON *e = cJSON_GetObjectItemCaseSensitive(msg, "error");
  if (e != NULL) {
    cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    cJSON *text = cJSON_GetObjectItemCaseSensitive(e, "message");
    c->rpc_code = cJSON_IsNumber(code) ? code->valueint : HP_RPC_E_INTERNAL;
    cJSON_Delete(c->rpc_data);
    c->rpc_data = cJSON_DetachItemFromObjectCaseSensitive(e, "data");
    return hp_err_set(err, hp_rpc_local_code(c->rpc_code), "%s: %s", method,
                      cJSON_IsString(text) ? text->valuestring : hp_rpc_error_name(c->rpc_code));
  }
  cJSON *r = cJSON_DetachItemFromObjectCaseSensitive(msg, "result");
  if (r == NULL)
    return hp_err_set(err, HP_EFORMAT, "%s: reply has neither \"result\" nor \"error\"",
                      method);
  c->rpc_code = 0;
  *result = r;
  return 0;
}

/* Queues a notification for hp_client_recv; false if it was not taken. */
static bool keep_pending(hp_client_t *c, cJSON *msg) {
  if (c->pending == NULL && (c->pending = cJSON_CreateArray()) == NULL) return false;
  if (cJSON_GetArraySize(c->pending) >= HP_CLIENT_MAX_PENDING)
    cJSON_Delete(cJSON_DetachItemFromArray(c->pending, 0));
  cJSON_AddItemToArray(c->pending, msg);
  return true;
}

int hp_client_call(hp_client_t *c, const char *method, cJSON *params, cJSON **result,
                   hp_err_t *err) {
  long long id;
  *result = NULL;
  int rc = hp_client_send(c, method, params, &id, err);
  if (rc < 0) return rc;
  long long deadline = c->timeout_ms < 0 ? -1 : now_ms() + c->timeout_ms;
  for (;;) {
    cJSON *msg = NULL;
    rc = recv_wire(c, c->timeout_ms < 0 ? -1 : left_ms(deadline), &msg, err);
    if (rc == HP_ETIMEOUT)
      return hp_err_set(err, HP_ETIMEOUT, "%s: no reply from the daemon on %s within %d ms",
                        method, c->path, c->timeout_ms);
    if (rc < 0) {
      hp_err_prefix(err, "%s", method);
      return rc;
    }
    cJSON *mid = cJSON_GetObjectItemCaseSensitive(msg, "id");
    /* Notifications (no id) and stray replies are skipped; a reply with a
     * null id is the daemon refusing the line itself (parse error). */
    if (cJSON_IsNumber(mid) && (long long)mid->valuedouble == id) {
      rc = hp_client_reply_result(c, msg, method, result, err);
      cJSON_Delete(msg);
      return rc;
    }
    if (cJSON_IsNull(mid) && cJSON_GetObjectItemCaseSensitive(msg, "error") != NULL) {
      rc = hp_client_reply_result(c, msg, method, result, err);
      cJSON_Delete(msg);
      return rc < 0 ? rc : hp_err_set(err, HP_EFORMAT, "%s: unexpected reply", method);
    }
    if (mid == NULL && keep_pending(c, msg)) continue;
    cJSON_Delete(msg);
  }
}

/* Returns the end of the JSON value starting at p (whitespace skipped first),
 * or NULL if the text ends inside it. Only brackets and strings are tracked:
 * the daemon's output is trusted to be valid JSON, this just finds borders. */
static const char *skip_value(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
  int depth = 0;
  bool in_str = false;
  for (; p < end; p++) {
    char ch = *p;
    if (in_str) {
      if (ch == '\\') p++;
      else if (ch == '"') {
        in_str = false;
        if (depth == 0) return p + 1;
      }
    } else if (ch == '"') {
      in_str = true;
    } else if (ch == '{' || ch == '[') {
      depth++;
    } else if (ch == '}' || ch == ']') {
      if (depth == 0) return p; /* end of a scalar inside a container */
      if (--depth == 0) return p + 1;
    } else if (depth == 0 && (ch == ',' || ch == ' ' || ch == '\n')) {
      return p; /* end of a number/literal */
    }
  }
  return NULL;
}

/* Finds the top-level member `key` of the object text [p, end): *val and *vlen
 * get its value text. false if absent or the text is not an object. */
static bool find_member(const char *p, const char *end, const char *key, const char **val,
                        size_t *vlen) {
  size_t klen = strlen(key);
  while (p < end && *p != '{') p++;
  if (p == end) return false;
  p++;
  for (;;) {
    while (p < end && (*p == ' ' || *p == ',' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    if (p >= end || *p != '"') return false;
    const char *kend = skip_value(p, end);
    if (kend == NULL) return false;
    bool match = (size_t)(kend - p) == klen + 2 && memcmp(p + 1, key, klen) == 0;
    p = kend;
    while (p < end && (*p == ' ' || *p == ':')) p++;
    const char *vend = skip_value(p, end);
    if (vend == NULL) return false;
    if (match) {
      *val = p;
      *vlen = (size_t)(vend - p);
      return true;
    }
    p = vend;
  }
}

int hp_client_call_raw(hp_client_t *c, const char *method, cJSON *params, const char **text,
                       size_t *len, hp_err_t *err) {
  long long id;
  *text = NULL;
  *len = 0;
  int rc = hp_client_send(c, method, params, &id, err);
  if (rc < 0) return rc;
  long long deadline = c->timeout_ms < 0 ? -1 : now_ms() + c->timeout_ms;
  for (;;) {
    const char *line;
    size_t n;
    rc = hp_client_recv_line(c, c->timeout_ms < 0 ? -1 : left_ms(deadline), &line, &n, err);
    if (rc < 0) {
      hp_err_prefix(err, "%s", method);
      return rc;
    }
    const char *v;
    size_t vlen;
    bool has_id = find_member(line, line + n, "id", &v, &vlen);
    bool ours = has_id && vlen > 0 && strtoll(v, NULL, 10) == id;
    if (ours && find_member(line, line + n, "result", text, len)) return 0;
    if (!has_id) { /* a notification: keep it for hp_client_recv */
      cJSON *msg = NULL;
      if (hp_json_parse(line, n, "event", &msg, NULL) == 0 && !keep_pending(c, msg))
        cJSON_Delete(msg);
      continue;
    }
    if (ours || (vlen == 4 && memcmp(v, "null", 4) == 0)) {
      /* An error reply (or our reply without a result): the tree path. */
      cJSON *msg = NULL, *result = NULL;
      rc = hp_json_parse(line, n, "reply from the daemon", &msg, err);
      if (rc < 0) return rc;
      rc = hp_client_reply_result(c, msg, method, &result, err);
      cJSON_Delete(msg);
      cJSON_Delete(result);
      return rc < 0 ? rc : hp_err_set(err, HP_EFORMAT, "%s: unexpected reply", method);
    }
  }
}

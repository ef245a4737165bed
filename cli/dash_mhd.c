/* Opens libmicrohttpd with dlopen() for the dashboard (cli/dash_mhd.h says
 * why it is not linked). */
#include <dlfcn.h>
#include <stddef.h>

#include "dash_mhd.h"

hp_mhd_api_t hp_mhd;

/* The SONAME of Debian 12's libmicrohttpd12 (0.9.75), then the
 * development link. */
static const char *const LIBS[] = {"libmicrohttpd.so.12", "libmicrohttpd.so"};

int hp_mhd_load(hp_err_t *err) {
  if (hp_mhd.start_daemon != NULL) return 0;
  void *h = NULL;
  for (size_t i = 0; h == NULL && i < sizeof LIBS / sizeof LIBS[0]; i++)
    h = dlopen(LIBS[i], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL)
    return hp_err_set(err, HP_ENOTFOUND,
                      "cannot load libmicrohttpd (%s): the dashboard needs it; run "
                      "scripts/install-deps (Debian package libmicrohttpd12)", dlerror());
  hp_mhd_api_t api;
  struct {
    void **slot;
    const char *name;
  } syms[] = {
      {(void **)&api.start_daemon, "MHD_start_daemon"},
      {(void **)&api.stop_daemon, "MHD_stop_daemon"},
      {(void **)&api.get_daemon_info, "MHD_get_daemon_info"},
      {(void **)&api.create_response_from_buffer, "MHD_create_response_from_buffer"},
      {(void **)&api.create_response_from_callback, "MHD_create_response_from_callback"},
      {(void **)&api.add_response_header, "MHD_add_response_header"},
      {(void **)&api.queue_response, "MHD_queue_response"},
      {(void **)&api.destroy_response, "MHD_destroy_response"},
      {(void **)&api.lookup_connection_value, "MHD_lookup_connection_value"},
      {(void **)&api.suspend_connection, "MHD_suspend_connection"},
      {(void **)&api.resume_connection, "MHD_resume_connection"},
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
    *syms[i].slot = dlsym(h, syms[i].name);
    if (*syms[i].slot == NULL) {
      dlclose(h);
      return hp_err_set(err, HP_ENOTFOUND, "libmicrohttpd lacks %s (too old? 0.9.75 is known to work)",
                        syms[i].name);
    }
  }
  hp_mhd = api;
  return 0;
}

/* libmicrohttpd for `hpsearch dashboard`, opened with dlopen() when the
 * dashboard starts instead of being linked: linked, it and GnuTLS (which it
 * needs) would load in every hpsearch process, the daemon's workers and
 * every client command included, nearly doubling their start-up time
 * (measured: 65 -> 118 ms per `hpsearch` run on a loaded machine). Include
 * this instead of <microhttpd.h>: the MHD_* calls below go through the
 * loaded table. */
#ifndef HPSEARCH_CLI_DASH_MHD_H
#define HPSEARCH_CLI_DASH_MHD_H

#include <microhttpd.h>

#include "hpsearch/err.h"

typedef struct hp_mhd_api {
  __typeof__(MHD_start_daemon) *start_daemon;
  __typeof__(MHD_stop_daemon) *stop_daemon;
  __typeof__(MHD_get_daemon_info) *get_daemon_info;
  __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
  __typeof__(MHD_create_response_from_callback) *create_response_from_callback;
  __typeof__(MHD_add_response_header) *add_response_header;
  __typeof__(MHD_queue_response) *queue_response;
  __typeof__(MHD_destroy_response) *destroy_response;
  __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
  __typeof__(MHD_suspend_connection) *suspend_connection;
  __typeof__(MHD_resume_connection) *resume_connection;
} hp_mhd_api_t;

extern hp_mhd_api_t hp_mhd;

/* Opens libmicrohttpd once; HP_ENOTFOUND naming the library and how to
 * install it when it is missing. */
int hp_mhd_load(hp_err_t *err);

#define MHD_start_daemon (hp_mhd.start_daemon)
#define MHD_stop_daemon (hp_mhd.stop_daemon)
#define MHD_get_daemon_info (hp_mhd.get_daemon_info)
#define MHD_create_response_from_buffer (hp_mhd.create_response_from_buffer)
#define MHD_create_response_from_callback (hp_mhd.create_response_from_callback)
#define MHD_add_response_header (hp_mhd.add_response_header)
#define MHD_queue_response (hp_mhd.queue_response)
#define MHD_destroy_response (hp_mhd.destroy_response)
#define MHD_lookup_connection_value (hp_mhd.lookup_connection_value)
#define MHD_suspend_connection (hp_mhd.suspend_connection)
#define MHD_resume_connection (hp_mhd.resume_connection)

#endif

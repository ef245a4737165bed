/* The version of hpsearch: `hpsearch --version`, the daemon's daemon.status
 * reply and the man page's header all show this one string. */
#ifndef HPSEARCH_VERSION_H
#define HPSEARCH_VERSION_H

#define HP_VERSION "0.1.0"

#endif

/* Findings already reported to the owners of the code, which the harnesses
 * tolerate so that fuzzing can go on past them; each names its reproducers.
 * Delete an entry (and its uses) once the code is fixed. None is open now:
 * the last one (non-UTF-8 categorical choices in distribution_json) was
 * fixed and its reproducers are the regress-utf8-* corpus cases. */
#ifndef HP_FUZZ_KNOWN_H
#define HP_FUZZ_KNOWN_H

#include "fuzz.h"

#endif

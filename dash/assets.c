/* The dashboard page's files (dash/web/) built into the binary, so
 * `hpsearch dashboard` and `hpsearch report -o` need nothing installed
 * beside it. The assembler's .incbin reads them at compile time (the
 * Makefile makes this object depend on the files in dash/web); each gets a NUL. */

#define HP_EMBED(sym, file)                                         \
  __asm__(".section .rodata\n"                                      \
          ".global " #sym "\n"                                      \
          ".type " #sym ", @object\n"                               \
          ".balign 16\n" #sym ":\n"                                 \
          ".incbin \"" file "\"\n"                                  \
          ".byte 0\n"                                               \
          ".size " #sym ", . - " #sym "\n"                          \
          ".previous\n")

HP_EMBED(hp_dash_html, "dash/web/index.html");
HP_EMBED(hp_dash_css, "dash/web/app.css");
HP_EMBED(hp_dash_js, "dash/web/app.js");

/* server_page_data.S: the chat page's files (app/server/page/) as read-only bytes in the binary, each
 * between a start and an end symbol, for server_page.c. .incbin is read by the assembler of gcc and
 * clang alike, so no generator or xxd is needed; paths are relative to the repository root, where
 * make runs (the Makefile makes this object depend on the files). The C preprocessor (.S) picks the
 * object format's spelling: Mach-O (macOS) prefixes C symbols with an underscore, has no .hidden
 * (.private_extern) and names sections segment,section; ELF is the rest. */
#if defined(__APPLE__)
/* an assembler macro, not a cpp one: ';' starts a comment on Darwin arm64, so cpp's one-line
 * expansion would lose everything after the first statement */
    .section __TEXT,__const
    .macro page_file name, path
    .balign 16
    .globl _\name
    .private_extern _\name
_\name:
    .incbin "\path"
    .globl _\name\()_end
    .private_extern _\name\()_end
_\name\()_end:
    .byte 0
    .endm
#else
    .section .rodata
    .macro page_file name, path
    .balign 16
    .globl \name
    .hidden \name
\name:
    .incbin "\path"
    .globl \name\()_end
    .hidden \name\()_end
\name\()_end:
    .byte 0
    .endm
#endif

    page_file gptoss_page_index_html, app/server/page/index.html
    page_file gptoss_page_app_js, app/server/page/app.js
    page_file gptoss_page_style_css, app/server/page/style.css
    page_file gptoss_page_icon_svg, app/server/page/icon.svg

#if !defined(__APPLE__)
/* No executable stack for the program that links this. */
    .section .note.GNU-stack,"",%progbits
#endif

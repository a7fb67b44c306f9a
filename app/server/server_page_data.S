/* server_page_data.S: the chat page's files (app/server/page/) as read-only bytes in the binary, each
 * between a start and an end symbol, for server_page.c. .incbin is read by the assembler of gcc and
 * clang alike, so no generator or xxd is needed; paths are relative to the repository root, where
 * make runs (the Makefile makes this object depend on the files). */
    .section .rodata
    .balign 16
    .globl gptoss_page_index_html
    .hidden gptoss_page_index_html
gptoss_page_index_html:
    .incbin "app/server/page/index.html"
    .globl gptoss_page_index_html_end
    .hidden gptoss_page_index_html_end
gptoss_page_index_html_end:
    .byte 0

    .balign 16
    .globl gptoss_page_app_js
    .hidden gptoss_page_app_js
gptoss_page_app_js:
    .incbin "app/server/page/app.js"
    .globl gptoss_page_app_js_end
    .hidden gptoss_page_app_js_end
gptoss_page_app_js_end:
    .byte 0

    .balign 16
    .globl gptoss_page_style_css
    .hidden gptoss_page_style_css
gptoss_page_style_css:
    .incbin "app/server/page/style.css"
    .globl gptoss_page_style_css_end
    .hidden gptoss_page_style_css_end
gptoss_page_style_css_end:
    .byte 0

    .balign 16
    .globl gptoss_page_icon_svg
    .hidden gptoss_page_icon_svg
gptoss_page_icon_svg:
    .incbin "app/server/page/icon.svg"
    .globl gptoss_page_icon_svg_end
    .hidden gptoss_page_icon_svg_end
gptoss_page_icon_svg_end:
    .byte 0

/* No executable stack for the program that links this. */
    .section .note.GNU-stack,"",%progbits

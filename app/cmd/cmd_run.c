/* cmd_run.c: `gptoss run MODEL -p PROMPT`: one harmony turn; the final answer on stdout. */
#include "chat/chat.h"
#include "cmd/commands.h"

int cmd_run(int argc, char **argv) { return chat_main(argc, argv, 1, chat_model_source_open); }

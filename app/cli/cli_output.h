/* cli_output.h: where the commands that write model files (synth, convert) put them: built in a
 * staging folder of their own beside the destination, moved into place when complete, never
 * touching a file they did not create. */
#ifndef GPTOSS_CLI_OUTPUT_H
#define GPTOSS_CLI_OUTPUT_H

typedef struct cli_stage {
    const char *cmd;  /* "synth", "convert": the prefix of every message */
    char *dest;       /* the destination as given */
    char *dest_base;  /* its last component (within parent_fd) */
    char *dir;        /* the staging folder's path (mkdtemp), NULL once removed */
    char *dir_base;   /* its last component (within parent_fd) */
    int parent_fd;    /* the folder holding both, -1 when closed */
    int dest_is_dir;  /* a directory of files (synth) or one file (*.gguf) */
    int merge;        /* dest is a directory that held something (only with --force) */
} cli_stage;

/* Checks the destination and makes the staging folder. A directory destination must be absent or
 * empty, or force given (then only the staged files' names are replaced in it); a file destination
 * must be absent, or force given (then it is replaced). Symbolic links are never written through: a
 * destination that is one is refused. Creates the destination's missing parent folders. Returns 0,
 * or prints the reason and returns the exit status (1). */
int cli_stage_open(cli_stage *s, const char *cmd, const char *dest, int dest_is_dir, int force);
/* Moves what was staged into place: the whole folder onto a directory destination (entry by entry
 * when merging, config.json last since it marks a complete checkpoint), or the staged file named
 * `staged_name` onto a file destination. Returns 0, or prints the reason and returns 1. */
int cli_stage_commit(cli_stage *s, const char *staged_name);
/* Removes the staging folder and what remains in it (no symbolic link followed) and frees s. */
void cli_stage_close(cli_stage *s);
/* Removes folder `name` in dirfd and everything under it without following symbolic links (a link
 * is removed, never its target). Returns 0, or -1 with errno. */
int cli_remove_tree_at(int dirfd, const char *name);

#endif

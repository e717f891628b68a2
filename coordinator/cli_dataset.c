#include <stdio.h>
int cli_dataset(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "hierbert dataset: not yet\n");
    return 1;
}

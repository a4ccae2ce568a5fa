/* Checks, at run time, a table of pointers that only relocations can make right:
 * addresses of globals, of functions (static and exported) and of libc functions and
 * data, stored in initialised data and compared with the same addresses computed by
 * code. Prints one line per entry and "ptrs ok N", or the first wrong entry and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int counter = 7;
static int hidden = 9;
const char *greeting = "hello";
const char **greeting_ref = &greeting;

int add(int a, int b) { return a + b; }
static int mul(int a, int b) { return a * b; }

struct entry {
	const char *name;
	const void *ptr;
};

static const struct entry table[] = {
	{"counter", &counter},
	{"hidden", &hidden},
	{"greeting", &greeting},
	{"add", (const void *)add},
	{"mul", (const void *)mul},
	{"malloc", (const void *)malloc},
	{"free", (const void *)free},
	{"strlen", (const void *)strlen},
	{"memcpy", (const void *)memcpy},
	{"puts", (const void *)puts},
};

static const void *computed(int i) {
	switch (i) {
	case 0: return &counter;
	case 1: return &hidden;
	case 2: return &greeting;
	case 3: return (const void *)add;
	case 4: return (const void *)mul;
	case 5: return (const void *)malloc;
	case 6: return (const void *)free;
	case 7: return (const void *)strlen;
	case 8: return (const void *)memcpy;
	default: return (const void *)puts;
	}
}

int main(void) {
	int n = (int)(sizeof table / sizeof table[0]);
	for (int i = 0; i < n; i++) {
		const void *volatile want = computed(i);
		if (table[i].ptr != want) {
			printf("ptrs FAIL %s: table %p, code %p\n", table[i].name, table[i].ptr, want);
			return 1;
		}
	}
	int (*volatile f)(int, int) = add;
	int (*volatile g)(int, int) = mul;
	char *buf = malloc(16);
	memcpy(buf, *greeting_ref, strlen(greeting) + 1);
	if (f(2, 3) != 5 || g(2, 3) != 6 || strcmp(buf, "hello") != 0 || counter + hidden != 16) {
		puts("ptrs FAIL calls");
		return 1;
	}
	free(buf);
	printf("ptrs ok %d\n", n);
	return 0;
}

/* Scattered reads and writes over 16 MiB (4096 pages), far more pages than Unicorn's
 * first TLB holds: elftrace must let the TLB grow (tests/emulator/test_tlb_growth.py). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define WORDS (1u << 22)

static uint32_t table[WORDS];

int main(int argc, char **argv) {
    uint32_t steps = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 300000;
    uint32_t x = 1, sum = 0;
    for (uint32_t i = 0; i < steps; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        table[x & (WORDS - 1)] += x;
    }
    for (uint32_t i = 0; i < WORDS; i++)
        sum += table[i] * (i | 1);
    printf("scattered %u steps: %u\n", steps, sum);
    return 0;
}

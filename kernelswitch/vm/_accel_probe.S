# Boot sector: prints R (real mode), P (32-bit protected), L (64-bit long mode) on COM1,
# then exits QEMU through isa-debug-exit. Loaded by BIOS at 0x7c00.
    .code16
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7c00, %sp
    mov $0x3f8, %dx
    mov $'R', %al
    out %al, %dx
    lgdt gdtr
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmp $0x08, $pm32
    .code32
pm32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x3f8, %dx
    mov $'P', %al
    out %al, %dx
    # page tables at 0x1000 (PML4), 0x2000 (PDPT), 0x3000 (PD, one 2 MiB page)
    mov $0x1000, %edi
    xor %eax, %eax
    mov $0xc00, %ecx
    rep stosl
    movl $0x2003, 0x1000
    movl $0x3003, 0x2000
    movl $0x0083, 0x3000
    mov $0x1000, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov $0xc0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000000, %eax
    mov %eax, %cr0
    ljmp $0x18, $lm64
    .code64
lm64:
    mov $0x3f8, %dx
    mov $'L', %al
    out %al, %dx
    mov $'\n', %al
    out %al, %dx
    mov $0xf4, %dx
    mov $0x10, %al
    out %al, %dx
1:  hlt
    jmp 1b
    .p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00af9a000000ffff
gdtr:
    .word gdtr - gdt - 1
    .long gdt
    .org 510
    .word 0xaa55

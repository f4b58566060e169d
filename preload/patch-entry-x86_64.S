/*
 * Entry and exit trampolines of patched functions (x86-64). See patch.c.
 *
 * A patched function starts with `jmp rel32` to its site stub, which does
 * `push $site_index; jmp *patch_entry_common`. No register is free for the
 * index, not even %r11: with -fipa-ra GCC keeps values in any caller-saved
 * register that it knows the callee (as compiled) leaves alone, and the
 * patched function is often such a callee. Every register is preserved.
 *
 * Each trampoline first calls its fast path (patch-fast.c), which preserves
 * every register but %rax, after saving only %rax and the registers it is
 * given arguments in. When that declines (returns 0) the full path runs:
 * every caller-saved register is saved, and the vector registers whole (ymm
 * with AVX) because libc routines called on the way may run vzeroupper. Not
 * saved: x87 registers, AVX-512 zmm16-31/upper halves and mask registers
 * (see doc/interception.md).
 *
 * Both trampolines leave with `jmp *-8(%rsp)`, never `ret`: a `ret` to an
 * address that no `call` pushed mispredicts, and unbalances the return stack
 * buffer so that the returns of the caller's callers mispredict as well. The
 * target is stored in the word just below the final %rsp - the index slot on
 * entry, the return-address slot on exit - which the red zone protects from
 * signal frames, and which no caller keeps live data in across a call.
 *
 * Stack alignment: the patched function is entered with %rsp = 8 mod 16, the
 * exit trampoline (after the function's ret) with 0 mod 16. Every call below
 * is made with %rsp = 0 mod 16, as the ABI wants.
 */
	.text

#define VECTOR_AREA 512

.macro SAVE_VECTORS mode
	/* Which registers: \mode(%rsp) = 2 SSE only (no AVX), 1 whole ymm
	 * (their upper halves are in use), 0 xmm only because the upper
	 * halves are in their initial (zero) state: then RESTORE_VECTORS ends
	 * with vzeroupper, which puts them back in that state. Reloading
	 * whole ymm registers when the code runs legacy SSE would leave the
	 * upper state dirty and slow every SSE instruction after it (3.6x on
	 * a Rust f64 loop, measured). */
	movq	$2, \mode(%rsp)
	cmpb	$0, patch_use_avx(%rip)
	je	3f
	movq	$1, \mode(%rsp)
	cmpb	$0, patch_use_xinuse(%rip)
	je	4f
	movl	$1, %ecx
	xgetbv				/* XINUSE: bit 2 = upper ymm halves in use */
	testb	$4, %al
	jnz	4f
	movq	$0, \mode(%rsp)
	jmp	3f
4:
	vmovdqu	%ymm0, 0(%rsp)
	vmovdqu	%ymm1, 32(%rsp)
	vmovdqu	%ymm2, 64(%rsp)
	vmovdqu	%ymm3, 96(%rsp)
	vmovdqu	%ymm4, 128(%rsp)
	vmovdqu	%ymm5, 160(%rsp)
	vmovdqu	%ymm6, 192(%rsp)
	vmovdqu	%ymm7, 224(%rsp)
	vmovdqu	%ymm8, 256(%rsp)
	vmovdqu	%ymm9, 288(%rsp)
	vmovdqu	%ymm10, 320(%rsp)
	vmovdqu	%ymm11, 352(%rsp)
	vmovdqu	%ymm12, 384(%rsp)
	vmovdqu	%ymm13, 416(%rsp)
	vmovdqu	%ymm14, 448(%rsp)
	vmovdqu	%ymm15, 480(%rsp)
	jmp	5f
3:
	movdqu	%xmm0, 0(%rsp)
	movdqu	%xmm1, 32(%rsp)
	movdqu	%xmm2, 64(%rsp)
	movdqu	%xmm3, 96(%rsp)
	movdqu	%xmm4, 128(%rsp)
	movdqu	%xmm5, 160(%rsp)
	movdqu	%xmm6, 192(%rsp)
	movdqu	%xmm7, 224(%rsp)
	movdqu	%xmm8, 256(%rsp)
	movdqu	%xmm9, 288(%rsp)
	movdqu	%xmm10, 320(%rsp)
	movdqu	%xmm11, 352(%rsp)
	movdqu	%xmm12, 384(%rsp)
	movdqu	%xmm13, 416(%rsp)
	movdqu	%xmm14, 448(%rsp)
	movdqu	%xmm15, 480(%rsp)
5:
.endm

.macro RESTORE_VECTORS mode
	cmpq	$1, \mode(%rsp)
	je	4f
	cmpq	$0, \mode(%rsp)
	jne	3f
	vzeroupper
3:
	movdqu	0(%rsp), %xmm0
	movdqu	32(%rsp), %xmm1
	movdqu	64(%rsp), %xmm2
	movdqu	96(%rsp), %xmm3
	movdqu	128(%rsp), %xmm4
	movdqu	160(%rsp), %xmm5
	movdqu	192(%rsp), %xmm6
	movdqu	224(%rsp), %xmm7
	movdqu	256(%rsp), %xmm8
	movdqu	288(%rsp), %xmm9
	movdqu	320(%rsp), %xmm10
	movdqu	352(%rsp), %xmm11
	movdqu	384(%rsp), %xmm12
	movdqu	416(%rsp), %xmm13
	movdqu	448(%rsp), %xmm14
	movdqu	480(%rsp), %xmm15
	jmp	5f
4:
	vmovdqu	0(%rsp), %ymm0
	vmovdqu	32(%rsp), %ymm1
	vmovdqu	64(%rsp), %ymm2
	vmovdqu	96(%rsp), %ymm3
	vmovdqu	128(%rsp), %ymm4
	vmovdqu	160(%rsp), %ymm5
	vmovdqu	192(%rsp), %ymm6
	vmovdqu	224(%rsp), %ymm7
	vmovdqu	256(%rsp), %ymm8
	vmovdqu	288(%rsp), %ymm9
	vmovdqu	320(%rsp), %ymm10
	vmovdqu	352(%rsp), %ymm11
	vmovdqu	384(%rsp), %ymm12
	vmovdqu	416(%rsp), %ymm13
	vmovdqu	448(%rsp), %ymm14
	vmovdqu	480(%rsp), %ymm15
5:
.endm

.macro PUSH_SCRATCH
	pushq	%rdi
	pushq	%rsi
	pushq	%rdx
	pushq	%rcx
	pushq	%r8
	pushq	%r9
	pushq	%rax
	pushq	%r10
	pushq	%r11
.endm

.macro POP_SCRATCH
	popq	%r11
	popq	%r10
	popq	%rax
	popq	%r9
	popq	%r8
	popq	%rcx
	popq	%rdx
	popq	%rsi
	popq	%rdi
.endm

/* 9 pushed registers */
#define SCRATCH_AREA 72

/*
 * On entry: 0(%rsp) = site index (pushed by the stub), 8(%rsp) = the
 * caller's return address (the "slot"). Leaves for the relocated
 * instructions of the function, or wherever patch_on_entry says.
 */
	.globl	patch_entry_common
	.hidden	patch_entry_common
	.type	patch_entry_common, @function
patch_entry_common:
	endbr64
	pushq	%rax
	pushq	%rdi
	pushq	%rsi
	subq	$8, %rsp
	movl	32(%rsp), %edi                  /* site index */
	leaq	40(%rsp), %rsi                  /* the slot */
	call	patch_fast_entry
	testq	%rax, %rax
	jz	1f
	movq	%rax, 32(%rsp)                  /* the index's word: where to go */
	addq	$8, %rsp
	popq	%rsi
	popq	%rdi
	popq	%rax
	leaq	8(%rsp), %rsp
	jmp	*-8(%rsp)
1:
	addq	$8, %rsp
	popq	%rsi
	popq	%rdi
	popq	%rax
	PUSH_SCRATCH
	subq	$(VECTOR_AREA + 8), %rsp        /* vectors, mode */
	SAVE_VECTORS VECTOR_AREA
	movq	(VECTOR_AREA + 8 + SCRATCH_AREA)(%rsp), %rdi      /* site index */
	leaq	(VECTOR_AREA + 8 + SCRATCH_AREA + 8)(%rsp), %rsi  /* the slot */
	call	patch_on_entry
	movq	%rax, (VECTOR_AREA + 8 + SCRATCH_AREA)(%rsp)
	RESTORE_VECTORS VECTOR_AREA
	addq	$(VECTOR_AREA + 8), %rsp
	POP_SCRATCH
	leaq	8(%rsp), %rsp
	jmp	*-8(%rsp)
	.size	patch_entry_common, . - patch_entry_common

/*
 * Reached by the patched function's `ret` instead of its caller: %rsp is the
 * slot + 8, %rax/%rdx (and %xmm0/%xmm1) hold its return value. Ends the
 * iteration, puts the original return address back into the slot and jumps
 * to it.
 */
	.globl	patch_exit_trampoline
	.hidden	patch_exit_trampoline
	.type	patch_exit_trampoline, @function
patch_exit_trampoline:
	subq	$8, %rsp                        /* down to the slot: it is kept */
	pushq	%rax
	pushq	%rdx
	pushq	%rdi
	leaq	24(%rsp), %rdi                  /* the slot */
	call	patch_fast_exit
	testq	%rax, %rax
	jz	1f
	movq	%rax, 24(%rsp)
	popq	%rdi
	popq	%rdx
	popq	%rax
	leaq	8(%rsp), %rsp
	jmp	*-8(%rsp)
1:
	popq	%rdi
	popq	%rdx
	popq	%rax
	PUSH_SCRATCH
	subq	$(VECTOR_AREA + 16), %rsp       /* vectors, mode, padding */
	SAVE_VECTORS VECTOR_AREA
	leaq	(VECTOR_AREA + 16 + SCRATCH_AREA)(%rsp), %rdi  /* the slot */
	call	patch_on_exit
	movq	%rax, (VECTOR_AREA + 16 + SCRATCH_AREA)(%rsp)
	RESTORE_VECTORS VECTOR_AREA
	addq	$(VECTOR_AREA + 16), %rsp
	POP_SCRATCH
	leaq	8(%rsp), %rsp
	jmp	*-8(%rsp)
	.size	patch_exit_trampoline, . - patch_exit_trampoline

	.section .note.GNU-stack, "", @progbits

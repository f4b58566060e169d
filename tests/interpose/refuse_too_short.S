/*
 * Refusal (a): too short. too_short is 3 bytes (xor; ret) and the next
 * function starts right after it, so a 5-byte jump at its entry would
 * overwrite next_function. Expected: refused, "too short" (decided from the
 * ELF symbol size, before the bytes are decoded; that it also ends in a ret
 * is not what the message should be about).
 */
	.text
	.globl	too_short
	.type	too_short, @function
too_short:
	xorl	%eax, %eax		/* 31 c0 */
	ret				/* c3 */
	.size	too_short, .-too_short

	.globl	next_function
	.type	next_function, @function
next_function:
	leaq	1(%rdi), %rax
	ret
	.size	next_function, .-next_function

	.section .note.GNU-stack,"",@progbits

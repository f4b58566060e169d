/*
 * Refusal (d): an instruction that cannot be relocated. unrelocatable(x, b,
 * c, d) starts with jrcxz, a branch with only an 8-bit displacement and no
 * rel32 form, so it cannot be moved to a stub and still reach its target
 * (a patcher could rewrite it into a longer sequence; this one is expected
 * not to). d is the 4th argument, in rcx. Returns 3x when d != 0, else x.
 * The jrcxz targets offset 9, outside the first 5 bytes, and there is no ret
 * among them: jrcxz is the only reason. Expected: refused, "cannot relocate"
 * or "unsupported instruction".
 */
	.text
	.globl	unrelocatable
	.type	unrelocatable, @function
unrelocatable:
	jrcxz	1f			/* offset 0: e3 07, target offset 9 */
	leaq	(%rdi,%rdi,2), %rax	/* offset 2: 48 8d 04 7f */
	nop				/* offset 6 */
	nop
	ret				/* offset 8 */
1:	movq	%rdi, %rax		/* offset 9 */
	ret
	.size	unrelocatable, .-unrelocatable

	.section .note.GNU-stack,"",@progbits

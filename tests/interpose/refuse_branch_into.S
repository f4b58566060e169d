/*
 * Refusal (b): a branch into the patched bytes. branch_into(n) returns
 * n + (n-1) + ... + 1 (n >= 1). Its first 5 bytes are two whole
 * instructions (xor: 2 bytes, add: 3 bytes), none of them a branch or a
 * ret, but the loop's jnz at offset 8 jumps back to offset 2, inside the 5
 * bytes a jump at the entry would overwrite. Expected: refused, "branch into".
 */
	.text
	.globl	branch_into
	.type	branch_into, @function
branch_into:
	xorl	%eax, %eax		/* offset 0: 31 c0 */
1:	addq	%rdi, %rax		/* offset 2: 48 01 f8 */
	decq	%rdi			/* offset 5: 48 ff cf */
	jnz	1b			/* offset 8: 75 f8, target offset 2 */
	ret
	.size	branch_into, .-branch_into

	.section .note.GNU-stack,"",@progbits

/*
 * Refusal (c): a ret inside the first 5 bytes. early_ret(x) returns x + 1
 * with `lea 1(%rdi),%eax; ret` (4 bytes), followed inside the symbol by 12
 * bytes of int3 padding (as hot-patchable code or hand-written assembly may
 * have), so the symbol is 16 bytes long: not too short, no branch anywhere,
 * only the ret at offset 3 among the instructions that a 5-byte jump would
 * overwrite. Expected: refused, "ret".
 */
	.text
	.globl	early_ret
	.type	early_ret, @function
early_ret:
	leal	1(%rdi), %eax		/* offset 0: 8d 47 01 */
	ret				/* offset 3: c3 */
	.fill	12, 1, 0xcc		/* int3 padding */
	.size	early_ret, .-early_ret

	.section .note.GNU-stack,"",@progbits

/*
 * x86-64 entry patching: decide whether a function can be patched and build
 * the relocated copy of the instructions the patch overwrites.
 *
 * The patch is a 5-byte `jmp rel32` at the function's entry, after an
 * `endbr64` if there is one (a CET-enabled caller may reach the function by
 * an indirect branch, which must land on endbr64). The whole instructions
 * that the 5 bytes overlap are decoded with capstone and copied to the
 * resume code, followed by a jmp back to the first instruction not moved.
 * Only the first 5 bytes are overwritten: the rest of the moved instructions
 * stay intact in place, so a branch to one of their boundaries still runs
 * correct code.
 *
 * Refused, each with the reason in the returned message:
 *  - functions shorter than the patch (after endbr64);
 *  - a branch elsewhere in the function into the 4 bytes after the patch
 *    start (it would land inside the jmp's displacement);
 *  - ret/iret among the moved instructions (a later branch may target it:
 *    uftrace #1692);
 *  - a call among the moved instructions (its return address would point
 *    into the resume code, which has no unwind information);
 *  - 8-bit-only branches (jrcxz, loop*) and int3/int/privileged instructions;
 *  - RIP-relative operands or branch targets out of rel32 reach of the
 *    resume code (it is placed within reach of the module, so in practice
 *    only for very large modules).
 * Relative jmp and jcc among the moved instructions are rewritten with 32-bit
 * displacements; RIP-relative memory operands get their displacement
 * recomputed for the new address.
 */
#include <capstone/capstone.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "patch.h"

#define JMP_REL32_LEN 5

static const uint8_t endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };

static bool fits_rel32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

static void put_rel32(uint8_t *p, int64_t v)
{
	int32_t d = (int32_t)v;

	memcpy(p, &d, 4);
}

/* Emit `jmp rel32` at @out (to be placed at @at) to @target. */
static bool emit_jmp(uint8_t *out, uintptr_t at, uintptr_t target)
{
	int64_t rel = (int64_t)target - (int64_t)(at + JMP_REL32_LEN);

	if (!fits_rel32(rel))
		return false;
	out[0] = 0xe9;
	put_rel32(out + 1, rel);
	return true;
}

void x86_make_jmp(uint8_t out[5], uintptr_t at, uintptr_t target)
{
	emit_jmp(out, at, target);
}

static bool is_group(const cs_insn *insn, uint8_t group)
{
	for (uint8_t i = 0; i < insn->detail->groups_count; i++)
		if (insn->detail->groups[i] == group)
			return true;
	return false;
}

/* The immediate target of a relative branch, or 0. */
static uintptr_t branch_target(const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;

	if (!is_group(insn, X86_GRP_BRANCH_RELATIVE) || x->op_count < 1 ||
	    x->operands[0].type != X86_OP_IMM)
		return 0;
	return (uintptr_t)x->operands[0].imm;
}

static bool has_rip_operand(const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;

	for (uint8_t i = 0; i < x->op_count; i++)
		if (x->operands[i].type == X86_OP_MEM && x->operands[i].mem.base == X86_REG_RIP)
			return true;
	return false;
}

/*
 * Copy one moved instruction to @out (placed at @at), relocating what depends
 * on its address. Returns the bytes written, or -1 with @why filled.
 */
static int relocate(const cs_insn *insn, uint8_t *out, uintptr_t at, char *why, size_t why_len)
{
	const cs_x86 *x = &insn->detail->x86;
	uintptr_t target = branch_target(insn);

	if (is_group(insn, X86_GRP_RET) || is_group(insn, X86_GRP_IRET)) {
		snprintf(why, why_len, "ret within the first %d bytes, which the patch overwrites",
			 JMP_REL32_LEN);
		return -1;
	}
	if (is_group(insn, X86_GRP_CALL)) {
		snprintf(why, why_len,
			 "cannot relocate a call (%s) from the bytes the patch overwrites",
			 insn->mnemonic);
		return -1;
	}
	if (is_group(insn, X86_GRP_INT) || is_group(insn, X86_GRP_PRIVILEGE)) {
		snprintf(why, why_len, "unsupported instruction %s in the bytes the patch overwrites",
			 insn->mnemonic);
		return -1;
	}
	if (target) {
		int64_t rel;

		if (insn->id == X86_INS_JMP) {
			if (!emit_jmp(out, at, target))
				goto out_of_reach;
			return JMP_REL32_LEN;
		}
		if ((x->opcode[0] & 0xf0) == 0x70 ||
		    (x->opcode[0] == 0x0f && (x->opcode[1] & 0xf0) == 0x80)) {
			/* jcc: the condition is the low nibble of the opcode in
			 * both forms (7x rel8, 0f 8x rel32). */
			uint8_t cc = x->opcode[0] == 0x0f ? x->opcode[1] & 0x0f : x->opcode[0] & 0x0f;

			rel = (int64_t)target - (int64_t)(at + 6);
			if (!fits_rel32(rel))
				goto out_of_reach;
			out[0] = 0x0f;
			out[1] = (uint8_t)(0x80 | cc);
			put_rel32(out + 2, rel);
			return 6;
		}
		snprintf(why, why_len,
			 "cannot relocate %s (an 8-bit branch with no wider form) from the bytes the "
			 "patch overwrites",
			 insn->mnemonic);
		return -1;
	}
	memcpy(out, insn->bytes, insn->size);
	if (has_rip_operand(insn)) {
		int64_t old_target = (int64_t)insn->address + insn->size + x->disp;
		int64_t rel = old_target - (int64_t)(at + insn->size);

		if (x->encoding.disp_offset == 0 || x->encoding.disp_size != 4) {
			snprintf(why, why_len, "cannot relocate the RIP-relative operand of %s",
				 insn->mnemonic);
			return -1;
		}
		if (!fits_rel32(rel))
			goto out_of_reach;
		put_rel32(out + x->encoding.disp_offset, rel);
	}
	return insn->size;
out_of_reach:
	snprintf(why, why_len, "cannot relocate %s: its target is out of 32-bit reach",
		 insn->mnemonic);
	return -1;
}

/*
 * Is any direct branch of the function (other than those among the moved
 * instructions themselves) aimed inside the patch, after its first byte?
 */
static bool branch_into_patch(csh cs, uintptr_t function, uint64_t size, uintptr_t patch_at,
			      char *why, size_t why_len)
{
	const uint8_t *code = (const uint8_t *)function;
	size_t left = size;
	uint64_t address = function;
	cs_insn *insn = cs_malloc(cs);
	bool found = false;

	if (!insn)
		return false;
	while (left) {
		const uint8_t *p = code + (address - function);
		uintptr_t target;

		if (!cs_disasm_iter(cs, &p, &left, &address, insn)) {
			/* Not code (padding, data): step over one byte. */
			address++;
			left--;
			continue;
		}
		target = branch_target(insn);
		if (target > patch_at && target < patch_at + JMP_REL32_LEN) {
			snprintf(why, why_len,
				 "a branch at +%u (%s) jumps into the first %d bytes that the patch "
				 "overwrites",
				 (unsigned)(insn->address - function), insn->mnemonic, JMP_REL32_LEN);
			found = true;
			break;
		}
	}
	cs_free(insn, 1);
	return found;
}

int x86_plan(csh cs, uintptr_t function, uint64_t size, uintptr_t resume_at,
	     struct x86_plan *plan, char *why, size_t why_len)
{
	const uint8_t *code = (const uint8_t *)function;
	uintptr_t patch_at = function;
	uint64_t address;
	const uint8_t *p;
	size_t left;
	cs_insn *insn;
	int err = 0;

	if (size >= sizeof(endbr64) && !memcmp(code, endbr64, sizeof(endbr64)))
		patch_at += sizeof(endbr64);
	if (size < (patch_at - function) + JMP_REL32_LEN) {
		snprintf(why, why_len, "too short: %u bytes%s, the patch needs %d",
			 (unsigned)(size - (patch_at - function)),
			 patch_at != function ? " after endbr64" : "", JMP_REL32_LEN);
		return -EINVAL;
	}
	if (branch_into_patch(cs, function, size, patch_at, why, why_len))
		return -EINVAL;

	insn = cs_malloc(cs);
	if (!insn) {
		snprintf(why, why_len, "out of memory decoding instructions");
		return -ENOMEM;
	}
	plan->patch_at = patch_at;
	plan->moved = 0;
	plan->resume_len = 0;
	address = patch_at;
	p = (const uint8_t *)patch_at;
	left = size - (patch_at - function);
	while (plan->moved < JMP_REL32_LEN) {
		int n;

		if (!cs_disasm_iter(cs, &p, &left, &address, insn)) {
			snprintf(why, why_len, "cannot decode the instruction at +%u",
				 (unsigned)(patch_at + plan->moved - function));
			err = -EINVAL;
			break;
		}
		if (plan->resume_len + 16 > sizeof(plan->resume)) {
			snprintf(why, why_len, "moved instructions too long");
			err = -EINVAL;
			break;
		}
		n = relocate(insn, plan->resume + plan->resume_len, resume_at + plan->resume_len,
			     why, why_len);
		if (n < 0) {
			err = -EINVAL;
			break;
		}
		plan->resume_len += (unsigned)n;
		plan->moved += insn->size;
	}
	cs_free(insn, 1);
	if (err)
		return err;
	if (!emit_jmp(plan->resume + plan->resume_len, resume_at + plan->resume_len,
		      patch_at + plan->moved)) {
		snprintf(why, why_len, "the resume code is out of reach of the function");
		return -EINVAL;
	}
	plan->resume_len += JMP_REL32_LEN;
	return 0;
}

int x86_disassembler_open(csh *cs)
{
	if (cs_open(CS_ARCH_X86, CS_MODE_64, cs) != CS_ERR_OK)
		return -ENOMEM;
	cs_option(*cs, CS_OPT_DETAIL, CS_OPT_ON);
	return 0;
}

void x86_disassembler_close(csh *cs)
{
	cs_close(cs);
}

/* henderson-simulate: a livestock population with the input of an animal-model evaluation
   (pedigree, records, model file) and the true breeding values to judge it by.  One trait by
   default; --traits 2 adds a second, genetically and residually correlated trait with 20% of its
   records missing; --maternal adds the dam's maternal genetic and maternal permanent environment
   effects on the (first) trait, the maternal value correlated with the direct one; --social adds
   social (indirect) genetic effects as in group-housed pigs and poultry (Bijma, Muir & Van
   Arendonk 2007): the animals with records live in pens of 4-15 within their herd-year-season,
   and each record gets, besides its own direct value, the social values of all its pen mates
   (no dilution) and a pen effect.

   Generation 0 holds the founders; generations 1..G are born in herds to sires drawn from the
   males of the previous 1-3 generations of the whole population (a heavy-tailed popularity, so a
   few AI sires get thousands of progeny) and dams drawn from the females of the previous 1-3
   generations, mostly of the calf's own herd.  Everything is O(N) time and memory (about 35
   bytes an animal, up to 24 more with the options; --social holds back one generation's records,
   48 bytes each, until their pens are known), and the files are written through large buffers
   with hand-made number formatting, so ten million animals take seconds rather than minutes.

   --genotyped N adds the SNP genotypes of N animals (genotypes.txt, or PLINK genotypes.bed/.bim/.fam,
   and a genotypes line in the model), dropped through the pedigree with linkage: M SNPs spread
   evenly over C chromosomes of 1 Morgan each (Haldane: a Poisson(1) number of crossovers per meiosis
   and chromosome, at uniform positions); founders draw their two haplotypes with a frequency of the
   second allele from Uniform(0.02, 0.98) per SNP, so some SNPs fail a MAF filter, and every other
   animal gets one recombinant gamete of each real parent (also where the file hides the parent, as
   the true values do).  The genotyped animals are drawn from the last 3 generations (then from
   earlier ones where those are too few), and 0.5% of them (at least one from 100 on) are animals
   outside the pedigree with founder haplotypes and IDs found nowhere else, as in a national data
   set.  A share of the calls is written missing.  Haplotypes are bit arrays, 2 bits a SNP per
   animal (12.5 kB at 50000 SNPs), held only for the genotyped animals (to the end) and their
   ancestors (until their last offspring is made); the rest is 21 bytes an animal.  The genotypes
   draw from generators of their own, so everything else is the same as without them.

   Without --qtl the SNPs are neutral: the true values do not depend on them, and G only tracks the
   relationships.  --qtl Q makes Q of the SNPs (drawn uniformly) quantitative trait loci with
   normal effects scaled so that their genic variance in the founders is --qtl-share of h2; the
   true value is then the QTL value (centred on the founders' mean) plus a polygenic value by the
   pedigree with the rest of h2.  The QTL alleles of every animal (2 bits a QTL) are dropped with
   the pedigree as it is made, and the genotypes later from the same meioses: every meiosis and every
   founder haplotype word draws from a generator seeded by the animal (and word), so both passes see
   the same crossovers and founder alleles, which is checked on every genotyped animal.

   Without --history the founders' haplotypes are in linkage equilibrium and unrelated, so G sees the
   QTL only through the pedigree's own linkage.  --history T draws them instead as gametes of a
   Wright-Fisher population of --history-size Ne (200) after T generations of random mating from such
   haplotypes: drift makes linkage disequilibrium between nearby SNPs and QTL (as in livestock, whose
   Ne is about 100-200) and some SNPs fixed or rare.

   usage: henderson-simulate [--animals N] [--generations G] [--herds H] [--founder-fraction f]
                             [--record-fraction r] [--missing-parent p] [--h2 h2] [--seed S]
                             [--traits 1|2] [--maternal] [--social] [--shuffle] [--out DIR]
                             [--genotyped N] [--snps M] [--chromosomes C]
                             [--genotype-format text|plink|both] [--missing-call q]
                             [--qtl Q] [--qtl-share s] [--history T] [--history-size Ne] */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum {
  MAX_VALUES             = 3, /* true values per animal: direct for each of 1-2 traits, maternal or social */
  SEASONS                = 4,
  MAX_PARENT_GENERATIONS = 3,      /* parents come from the previous 1..3 generations */
  LINE_MAX_BYTES         = 256,    /* no output line is longer than this */
  OUT_BUFFER             = 1 << 22 /* 4 MiB per output file */
};
static const double SAME_HERD_DAM  = 0.9;  /* chance that the dam is sought in the calf's herd */
static const double SIRE_PARETO    = 1.5;  /* shape of the sire popularity: the top sire has ~1% of all progeny at 10^5 animals */
static const double MISSING_WEIGHT = 0.01; /* share of records whose trait is NA */
static const double HYS_VARIANCE   = 0.5;  /* herd-year-season effects ~ N(0, 0.5), 0.5 a variance */
static const double MALE_EFFECT    = 0.3;
static const double AGE_SLOPE      = 0.002;
/* --traits 2: the second trait, weight2 */
static const double H2_SECOND            = 0.2;
static const double GENETIC_CORRELATION  = 0.5;
static const double RESIDUAL_CORRELATION = 0.2;
static const double MISSING_SECOND       = 0.2; /* share of records whose weight2 is NA (weight is then never NA) */
static const double HYS_VARIANCE_SECOND  = 0.3;
static const double MALE_EFFECT_SECOND   = -0.2;
static const double AGE_SLOPE_SECOND     = 0.004;
/* --maternal: the dam's effects on her calf's (first) trait */
static const double MATERNAL_VARIANCE          = 0.1;
static const double DIRECT_MATERNAL_COVARIANCE = -0.05;
static const double MATERNAL_PE_VARIANCE       = 0.05;
/* --social: the pen mates' effects on each other's (only) trait */
static const double SOCIAL_VARIANCE          = 0.05;
static const double DIRECT_SOCIAL_COVARIANCE = -0.01;
static const double PEN_VARIANCE             = 0.05;
enum {
  PEN_MIN = 4, /* pen sizes are drawn uniformly from PEN_MIN..PEN_MAX; a herd-year-season's remainder */
  PEN_MAX = 12 /* of 1..PEN_MIN-1 joins its last pen, so no pen has more than PEN_MAX + PEN_MIN - 1 */
};
static const uint64_t SOCIAL_STREAM = 0x50c1a1u; /* seeds the social draws' own generator (see Simulate) */
/* --genotyped: SNP genotypes dropped through the pedigree */
static const uint64_t GENOTYPE_STREAM = 0x6e0e7a1u;               /* seeds the genotypes' own generator */
static const uint64_t MEIOSIS_STREAM  = 0x3e1051u;                /* ... each meiosis's, by the child and the parent's side */
static const uint64_t FOUNDER_STREAM  = 0xf0e2de1u;               /* ... each founder haplotype word's, by the animal, side and word */
static const uint64_t QTL_STREAM      = 0x9717u;                  /* --qtl: the QTL's places and effects */
static const uint64_t HISTORY_STREAM  = 0x415702u;                /* --history: the historical population's matings */
static const double   OUTSIDE_SHARE   = 0.005;                    /* share of the genotyped animals that are not in the pedigree */
static const double   FREQUENCY_MIN = 0.02, FREQUENCY_MAX = 0.98; /* founder frequencies of the second allele */
static const double   BP_PER_MORGAN = 1e8;                        /* .bim positions */
static const double   EXP_MINUS_ONE = 0.36787944117144233;        /* e^-1: Poisson(1) crossovers, 1 Morgan a chromosome */
enum {
  TYPED_GENERATIONS = 3,  /* the genotyped animals come from the last 3 generations, where there are enough */
  FREQUENCY_BITS    = 16, /* founder frequencies are multiples of 2^-16, so that 64 SNPs draw at once (see FounderHaplotype) */
  MAX_CROSSOVERS    = 16, /* per meiosis and chromosome: P(more than 16 of Poisson(1)) < 1e-14 */
  FORMAT_TEXT       = 1,
  FORMAT_PLINK      = 2
};

static void Die(const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  fputs("henderson-simulate: ", stderr);
  vfprintf(stderr, format, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(EXIT_FAILURE);
}

static void *Allocate(size_t count, size_t size)
{
  void *p = calloc(count ? count : 1, size);
  if (!p) Die("out of memory (%zu x %zu bytes)", count, size);
  return p;
}

/* ---- Random numbers: xoshiro256** (fast, 2^256 period), seeded through splitmix64 ---- */

typedef struct {
  uint64_t s[4];
  int      has_spare; /* the polar method yields normals in pairs */
  double   spare;
} Rng;

static uint64_t SplitMix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15u);
  z          = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z          = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static void RngSeed(Rng *r, uint64_t seed)
{
  for (int k = 0; k < 4; k++) r->s[k] = SplitMix64(&seed);
  r->has_spare = 0;
}

static uint64_t Rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static uint64_t RngNext(Rng *r)
{
  uint64_t *s = r->s, result = Rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = Rotl(s[3], 45);
  return result;
}

/* uniform on [0, 1) with 53 random bits */
static double RngUniform(Rng *r)
{
  return (double)(RngNext(r) >> 11) * 0x1.0p-53;
}

/* uniform on 0..n-1 (n > 0); the bias of 2^-53 does not matter here */
static int32_t RngBelow(Rng *r, int64_t n)
{
  return (int32_t)(RngUniform(r) * (double)n);
}

/* standard normal, Marsaglia's polar method */
static double RngNormal(Rng *r)
{
  double x, y, s;
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  do {
    x = 2 * RngUniform(r) - 1;
    y = 2 * RngUniform(r) - 1;
    s = x * x + y * y;
  } while (s >= 1 || s == 0);
  s            = sqrt(-2 * log(s) / s);
  r->spare     = y * s;
  r->has_spare = 1;
  return x * s;
}

/* The first j in lo..hi-1 with cum[j] > x: a draw by weight from a cumulative table (hi-1 if rounding left x at the top). */
static int64_t SearchCumulative(const double *cum, int64_t lo, int64_t hi, double x)
{
  while (lo < hi - 1) {
    int64_t mid = lo + (hi - lo) / 2;
    if (cum[mid - 1] > x)
      hi = mid;
    else
      lo = mid;
  }
  return lo;
}

/* ---- Buffered output with hand-made formatting (printf of doubles is the bottleneck otherwise) ---- */

typedef struct {
  FILE  *file;
  char   path[4096];
  char  *buffer;
  size_t length;
} Out;

static void OutOpen(Out *o, const char *dir, const char *name)
{
  if ((size_t)snprintf(o->path, sizeof(o->path), "%s/%s", dir, name) >= sizeof(o->path)) Die("path too long: %s/%s", dir, name);
  if (!(o->file = fopen(o->path, "wb"))) Die("cannot create %s: %s", o->path, strerror(errno));
  o->buffer = Allocate(OUT_BUFFER, 1);
  o->length = 0;
}

static void OutFlush(Out *o)
{
  if (o->length && fwrite(o->buffer, 1, o->length, o->file) != o->length) Die("cannot write %s: %s", o->path, strerror(errno));
  o->length = 0;
}

/* Afterwards `bytes` (at most OUT_BUFFER) fit without further checks. */
static void OutRoom(Out *o, size_t bytes)
{
  if (o->length + bytes > OUT_BUFFER) OutFlush(o);
}

/* Called at the start of every line: afterwards a whole line fits without further checks. */
static void OutLine(Out *o)
{
  OutRoom(o, LINE_MAX_BYTES);
}

/* Raw bytes of any length (the .bed file). */
static void OutBytes(Out *o, const void *bytes, size_t length)
{
  const char *b = bytes;
  while (length) {
    size_t n = OUT_BUFFER - o->length < length ? OUT_BUFFER - o->length : length;
    memcpy(o->buffer + o->length, b, n);
    o->length += n;
    b += n;
    length -= n;
    if (o->length == OUT_BUFFER) OutFlush(o);
  }
}

static void OutClose(Out *o)
{
  OutFlush(o);
  if (fclose(o->file)) Die("cannot write %s: %s", o->path, strerror(errno));
  free(o->buffer);
}

static void PutChar(Out *o, char c)
{
  o->buffer[o->length++] = c;
}

static void PutString(Out *o, const char *s)
{
  while (*s) o->buffer[o->length++] = *s++;
}

/* v in decimal, zero-padded to at least width digits */
static void PutUnsigned(Out *o, uint64_t v, int width)
{
  char digits[24];
  int  n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n < width) digits[n++] = '0';
  while (n) o->buffer[o->length++] = digits[--n];
}

/* x with exactly `decimals` decimals, rounded half away from zero (values here are far below 2^63 / 10^decimals) */
static void PutFixed(Out *o, double x, int decimals)
{
  static const double scale[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
  uint64_t            p10     = (uint64_t)scale[decimals];
  int64_t             v       = llround(x * scale[decimals]);
  if (v < 0) {
    PutChar(o, '-');
    v = -v;
  }
  PutUnsigned(o, (uint64_t)v / p10, 1);
  PutChar(o, '.');
  PutUnsigned(o, (uint64_t)v % p10, decimals);
}

/* ---- Options ---- */

typedef struct {
  int64_t     animals, generations, herds;
  double      founder_fraction, record_fraction, missing_parent, h2;
  uint64_t    seed;
  int         traits, maternal, social, shuffle;
  const char *out;
  int64_t     genotyped, snps;              /* --genotyped: genotyped animals (0 for none), SNPs */
  int         chromosomes, genotype_format; /* FORMAT_TEXT and/or FORMAT_PLINK */
  double      missing_call;
  int64_t     qtl; /* --qtl: SNPs that are QTL (0: the SNPs are neutral) */
  double      qtl_share;
  int64_t     history, history_size; /* --history: generations of a historical population before the founders, and its size */
} Options;

/* The genotyped animals that are not in the pedigree: OUTSIDE_SHARE of them, at least one from 100 on. */
static int64_t OutsideCount(int64_t genotyped)
{
  int64_t k = llround(OUTSIDE_SHARE * (double)genotyped);
  return genotyped < 100 ? 0 : k < 1 ? 1 : k;
}

static void Usage(FILE *f)
{
  fputs("usage: henderson-simulate [--animals N] [--generations G] [--herds H] [--founder-fraction f]\n"
        "                          [--record-fraction r] [--missing-parent p] [--h2 h2] [--seed S]\n"
        "                          [--traits 1|2] [--maternal] [--social] [--shuffle] [--out DIR]\n"
        "                          [--genotyped N] [--snps M] [--chromosomes C]\n"
        "                          [--genotype-format text|plink|both] [--missing-call q]\n"
        "                          [--qtl Q] [--qtl-share s] [--history T] [--history-size Ne]\n"
        "  writes DIR/pedigree.txt, data.txt, true_bv.txt and model.txt\n"
        "  defaults: N 100000, G 10, H N/200 (N/2000 with --social; at least 10), f 0.1, r 0.8, p 0.05, h2 0.3,\n"
        "            S 1, DIR .\n"
        "  --traits 2: a second trait weight2 (h2 0.2; genetic correlation 0.5, residual 0.2 with weight)\n"
        "  --maternal: the dam's maternal genetic effect (variance 0.1, covariance -0.05 with the direct one)\n"
        "              and maternal permanent environment (0.05) on weight; its residual is 1 - h2 - 0.15\n"
        "  --social:   (one trait, no --maternal) the records' animals live in pens of 4-15 within their\n"
        "              herd-year-season (column pen); each record gets its pen mates' social genetic values\n"
        "              (variance 0.05, covariance -0.01 with the direct one; true_bv.txt column tbv_s) and a\n"
        "              pen effect (0.05); the residual is 1 - h2 - 7 x 0.05 - 0.05 (7 mates on average)\n"
        "  --genotyped N: SNP genotypes of N animals dropped through the pedigree (recombination by Haldane's map),\n"
        "              mostly of the last 3 generations, 0.5% of them outside the pedigree: DIR/genotypes.txt (ID and\n"
        "              one digit a SNP: copies of the first allele, 5 missing), with plink genotypes.bed/.bim/.fam;\n"
        "              defaults: N 0 (none), M 50000, C 30 (1 Morgan each), text, q 0.01 (share of calls missing)\n"
        "  --qtl Q:    (with --genotyped, one trait, no --maternal or --social) Q of the SNPs are QTL whose genic\n"
        "              variance in the founders is s x h2 (default s 0.5); the rest of h2 is polygenic; DIR/qtl.txt\n"
        "              (SNP, effect of a copy of allele B, founder frequency) and true_bv.txt column qtl (the QTL value)\n"
        "  --history T: (with --genotyped) the founders' haplotypes are gametes of a population of Ne (default 200)\n"
        "              after T generations of random mating: linkage disequilibrium and related founders (default 0:\n"
        "              founders in linkage equilibrium)\n",
        f);
}

static int64_t ParseInteger(const char *name, const char *text, int64_t min, int64_t max)
{
  char     *end;
  long long v;
  errno = 0;
  v     = strtoll(text, &end, 10);
  if (errno || end == text || *end || v < min || v > max) Die("%s needs an integer in [%lld, %lld], not '%s'", name, (long long)min, (long long)max, text);
  return v;
}

static double ParseReal(const char *name, const char *text, double min, double max, int open)
{
  char  *end;
  double v;
  errno = 0;
  v     = strtod(text, &end);
  if (errno || end == text || *end || !(v >= min && v <= max) || (open && (v == min || v == max)))
    Die("%s needs a number in %c%g, %g%c, not '%s'", name, open ? '(' : '[', min, max, open ? ')' : ']', text);
  return v;
}

static int ParseFormat(const char *text)
{
  if (!strcmp(text, "text")) return FORMAT_TEXT;
  if (!strcmp(text, "plink")) return FORMAT_PLINK;
  if (!strcmp(text, "both")) return FORMAT_TEXT | FORMAT_PLINK;
  Die("--genotype-format takes text, plink or both, not '%s'", text);
  return 0;
}

static void CheckGenotypeOptions(const Options *o)
{
  int64_t outside = OutsideCount(o->genotyped);
  if (o->genotyped - outside > o->animals)
    Die("--genotyped %lld takes %lld animals of the pedigree, but there are only %lld", (long long)o->genotyped, (long long)(o->genotyped - outside),
        (long long)o->animals);
  /* the animals outside the pedigree get IDs of the indices after the pedigree's, 9 digits as well */
  if (o->animals + outside > 1000000000) Die("--animals and --genotyped leave no IDs for the %lld animals outside the pedigree", (long long)outside);
  if (o->chromosomes > o->snps) Die("--chromosomes %d is more than --snps %lld", o->chromosomes, (long long)o->snps);
  if (o->qtl > o->snps) Die("--qtl %lld is more than --snps %lld", (long long)o->qtl, (long long)o->snps);
}

static Options ParseOptions(int argc, char **argv)
{
  Options o = {.animals          = 100000,
               .generations      = 10,
               .herds            = 0,
               .founder_fraction = 0.1,
               .record_fraction  = 0.8,
               .missing_parent   = 0.05,
               .h2               = 0.3,
               .seed             = 1,
               .traits           = 1,
               .out              = ".",
               .snps             = 50000,
               .chromosomes      = 30,
               .genotype_format  = FORMAT_TEXT,
               .missing_call     = 0.01,
               .qtl_share        = 0.5,
               .history_size     = 200};
  for (int i = 1; i < argc; i++) {
    const char *name = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
      Usage(stdout);
      exit(EXIT_SUCCESS);
    }
    if (!strcmp(name, "--shuffle")) {
      o.shuffle = 1;
      continue;
    }
    if (!strcmp(name, "--maternal")) {
      o.maternal = 1;
      continue;
    }
    if (!strcmp(name, "--social")) {
      o.social = 1;
      continue;
    }
    if (!value) {
      Usage(stderr);
      Die("%s needs a value", name);
    }
    i++;
    /* IDs carry 9 digits and indices are 32-bit: 999,999,999 animals at most */
    if (!strcmp(name, "--animals"))
      o.animals = ParseInteger(name, value, 100, 999999999);
    else if (!strcmp(name, "--generations"))
      o.generations = ParseInteger(name, value, 1, 99);
    else if (!strcmp(name, "--herds"))
      o.herds = ParseInteger(name, value, 1, 9999999);
    else if (!strcmp(name, "--founder-fraction"))
      o.founder_fraction = ParseReal(name, value, 0, 1, 1);
    else if (!strcmp(name, "--record-fraction"))
      o.record_fraction = ParseReal(name, value, 0, 1, 0);
    else if (!strcmp(name, "--missing-parent"))
      o.missing_parent = ParseReal(name, value, 0, 1, 0);
    else if (!strcmp(name, "--h2"))
      o.h2 = ParseReal(name, value, 0, 1, 1);
    else if (!strcmp(name, "--traits"))
      o.traits = (int)ParseInteger(name, value, 1, 2);
    else if (!strcmp(name, "--seed"))
      o.seed = (uint64_t)ParseInteger(name, value, 0, INT64_MAX);
    else if (!strcmp(name, "--out"))
      o.out = value;
    else if (!strcmp(name, "--genotyped"))
      o.genotyped = ParseInteger(name, value, 0, 999999999);
    else if (!strcmp(name, "--snps"))
      o.snps = ParseInteger(name, value, 1, 100000000);
    else if (!strcmp(name, "--chromosomes"))
      o.chromosomes = (int)ParseInteger(name, value, 1, 10000);
    else if (!strcmp(name, "--genotype-format"))
      o.genotype_format = ParseFormat(value);
    else if (!strcmp(name, "--missing-call"))
      o.missing_call = ParseReal(name, value, 0, 1, 0);
    else if (!strcmp(name, "--qtl"))
      o.qtl = ParseInteger(name, value, 0, 100000000);
    else if (!strcmp(name, "--qtl-share"))
      o.qtl_share = ParseReal(name, value, 0, 1, 1);
    else if (!strcmp(name, "--history"))
      o.history = ParseInteger(name, value, 0, 100000);
    else if (!strcmp(name, "--history-size"))
      o.history_size = ParseInteger(name, value, 1, 1000000);
    else {
      Usage(stderr);
      Die("unknown option %s", name);
    }
  }
  /* the model's social line has one 2 x 2 G0, direct and social on a single trait */
  if (o.social && (o.traits == 2 || o.maternal)) Die("--social works with one trait and without --maternal");
  /* the QTL are SNPs of the panel, and act on the one direct value */
  if (o.qtl && !o.genotyped) Die("--qtl needs --genotyped: the QTL are SNPs of the genotypes");
  if (o.history && !o.genotyped) Die("--history needs --genotyped: it makes the founders' haplotypes");
  if (o.qtl && (o.traits == 2 || o.maternal || o.social)) Die("--qtl works with one trait and without --maternal or --social");
  if (o.genotyped) CheckGenotypeOptions(&o);
  /* 200 animals a herd give herd-year-seasons of about 4 records, too few to cut into pens of
     4-12; pig units are larger anyway: with --social about 36 records a herd-year-season */
  if (!o.herds) {
    int64_t animals_per_herd = o.social ? 2000 : 200;
    o.herds                  = o.animals / animals_per_herd > 10 ? o.animals / animals_per_herd : 10;
  }
  return o;
}

/* ---- The population ---- */

/* A country-like prefix per herd; the weights loosely follow the sizes of national herdbooks. */
static const char *const COUNTRY[]        = {"DE", "NL", "FR", "US", "CA", "DK", "IT", "GB"};
static const double      COUNTRY_WEIGHT[] = {0.25, 0.15, 0.15, 0.20, 0.08, 0.05, 0.07, 0.05};
enum { NCOUNTRIES = sizeof(COUNTRY) / sizeof(COUNTRY[0]) };

/* One record's draws, kept until its line is written: at once, or with --social at the end of its
   generation, when its pen mates are known.  Season and generation are recovered from hys. */
typedef struct {
  int32_t animal, age;
  int64_t hys;  /* index into hys_effect */
  double  y[2]; /* the traits without the pen's effects (--social); NaN where NA */
} Record;

typedef struct Genome Genome;

typedef struct {
  Options  opt;
  Genome  *qtl;             /* --qtl: the genome whose QTL make part of the true values, else NULL */
  int64_t  n, nherds, ngen; /* animals, herds, generations including the founders' */
  int64_t *gen_start;       /* [ngen + 1] first animal of each generation (animals are in birth order) */
  int32_t *sire, *dam;      /* [n] parents as the pedigree file has them: index, or -1 for unknown */
  int32_t *true_sire;       /* --genotyped: [n] the real parents, which the genes follow where the file hides them too */
  int32_t *true_dam;
  int      ntraits, nvalues; /* nvalues true values per animal: direct for each trait, then maternal (--maternal) or social (--social) */
  double  *tbv;              /* [n * nvalues] true breeding values */
  double  *mpe;              /* [n] maternal permanent environment of the females (--maternal) */
  int32_t *herd;             /* [n] herd of birth */
  uint8_t *male;             /* [n] */
  uint8_t *herd_country;     /* [nherds] */
  double  *herd_cum;         /* [nherds] cumulative herd sizes, to draw a calf's herd */
  int32_t *males;            /* males in birth order ... */
  double  *male_cum;         /* ... their cumulative popularity, to draw a sire */
  int32_t *male_progeny;     /* ... and their number of progeny */
  int64_t *male_start;       /* [ngen + 1] first entry of each generation in males */
  int32_t *females;          /* females grouped by generation, then herd */
  int64_t *female_start;     /* [ngen * nherds + 1] first entry of each (generation, herd) block */
  double  *hys_effect;       /* [(ngen - 1) * nherds * SEASONS] drawn at first use: NaN until then */
  double  *hys_effect2;      /* the same for weight2 (--traits 2), drawn with the first */
  double   G[MAX_VALUES][MAX_VALUES], R[MAX_VALUES][MAX_VALUES]; /* genetic (co)variances of the true values, residual ones of the traits */
  double   mendel[3][MAX_VALUES][MAX_VALUES];                    /* Cholesky factors of the Mendelian sampling covariance with 0, 1, 2 parents known */
  double   residual[MAX_VALUES][MAX_VALUES];                     /* Cholesky factor of R */
  int64_t  nrecords, nmissing, nmissing2, nhys;
  Rng      social_rng;         /* the social values, pen sizes and pen effects: a generator of their own (see Simulate) */
  Record  *pending;            /* --social: [largest generation] the generation's records in file order ... */
  int64_t  npending;           /* ... their number */
  int64_t *hys_start;          /* [nherds * SEASONS + 1] first entry of each of the generation's hys in by_hys */
  int32_t *by_hys;             /* [largest generation] the pending records by hys, in file order within each */
  int32_t *pen_of;             /* [largest generation] each pending record's pen, counted from the generation's first */
  double  *pen_value;          /* [largest generation] each pen's effect plus the social values of all its members */
  int64_t  npens, nsmall_pens; /* pens so far, and those of a whole herd-year-season of fewer than PEN_MIN records */
} Population;

/* Each animal's ID: its birth herd's country and 9 digits.  The digits are a bijection of the
   birth index (multiplying by 3^18, a unit modulo 10^9), so IDs are unique and their order
   gives away nothing about birth order, as with real national IDs. */
static void PutCountryId(Out *o, int country, int64_t i)
{
  PutString(o, COUNTRY[country]);
  PutUnsigned(o, ((uint64_t)i * 387420489u + 12345678u) % 1000000000u, 9);
}

static void PutId(Out *o, const Population *p, int32_t i)
{
  PutCountryId(o, p->herd_country[p->herd[i]], i);
}

static void PutParent(Out *o, const Population *p, int32_t parent)
{
  if (parent < 0)
    PutChar(o, '0');
  else
    PutId(o, p, parent);
}

/* The lower Cholesky factor L of the k x k matrix A; dies unless A is positive definite.  For
   k = 1 it is sqrt(A), so that the single-trait draws are the same as without the options. */
static void Cholesky(int k, double A[][MAX_VALUES], double L[][MAX_VALUES], const char *what)
{
  for (int i = 0; i < k; i++)
    for (int j = 0; j <= i; j++) {
      double s = A[i][j];
      for (int l = 0; l < j; l++) s -= L[i][l] * L[j][l];
      if (j < i)
        L[i][j] = s / L[j][j];
      else if (s > 0)
        L[i][i] = sqrt(s);
      else
        Die("%s is not positive definite", what);
    }
}

/* G, R and their factors.  The Mendelian sampling covariance is G less G/4 for each known parent
   (inbreeding ignored), subtracted in that order as the single-trait code always did; with --qtl it
   is that of the polygenic value alone, (1 - s) G. */
static void SetCovariances(Population *p, const Options *opt)
{
  const int m = p->nvalues - 1; /* the maternal value's position */

  p->G[0][0] = opt->h2;
  p->R[0][0] = 1 - opt->h2;
  if (opt->traits == 2) {
    p->G[1][1] = H2_SECOND;
    p->G[1][0] = p->G[0][1] = GENETIC_CORRELATION * sqrt(opt->h2 * H2_SECOND);
    p->R[1][1]              = 1 - H2_SECOND;
  }
  if (opt->maternal) {
    p->G[m][m] = MATERNAL_VARIANCE;
    p->G[m][0] = p->G[0][m] = DIRECT_MATERNAL_COVARIANCE;
    /* a phenotypic variance of about 1, the direct-maternal covariance aside */
    p->R[0][0] = 1 - opt->h2 - MATERNAL_VARIANCE - MATERNAL_PE_VARIANCE;
    if (!(p->R[0][0] > 0)) Die("--maternal needs --h2 below %g", 1 - MATERNAL_VARIANCE - MATERNAL_PE_VARIANCE);
  }
  if (opt->social) {
    const int    s     = p->nvalues - 1; /* the social value's position */
    const double mates = (PEN_MIN + PEN_MAX) / 2.0 - 1;
    p->G[s][s]         = SOCIAL_VARIANCE;
    p->G[s][0] = p->G[0][s] = DIRECT_SOCIAL_COVARIANCE;
    /* a phenotypic variance of about 1: a record holds the social values of ~7 unrelated mates and
       the pen effect (the covariance of its own direct value with its mates' social ones is ~0) */
    p->R[0][0] = 1 - opt->h2 - mates * SOCIAL_VARIANCE - PEN_VARIANCE;
    if (!(p->R[0][0] > 0))
      Die("--social needs --h2 below %g (the pen mates' social values and the pen effect take %g of the variance)", 1 - mates * SOCIAL_VARIANCE - PEN_VARIANCE,
          mates * SOCIAL_VARIANCE + PEN_VARIANCE);
  }
  if (opt->traits == 2) p->R[1][0] = p->R[0][1] = RESIDUAL_CORRELATION * sqrt(p->R[0][0] * p->R[1][1]);
  Cholesky(p->ntraits, p->R, p->residual, "the residual covariance matrix");
  for (int known = 0; known <= 2; known++) {
    double V[MAX_VALUES][MAX_VALUES];
    for (int i = 0; i < p->nvalues; i++)
      for (int j = 0; j < p->nvalues; j++) {
        const double g = p->G[i][j] * (opt->qtl ? 1 - opt->qtl_share : 1); /* times 1 exactly without --qtl */
        V[i][j]        = g;
        for (int k = 0; k < known; k++) V[i][j] -= g / 4;
      }
    Cholesky(p->nvalues, V, p->mendel[known],
             opt->maternal ? "the direct-maternal genetic covariance matrix (--h2 too small for --maternal)"
             : opt->social ? "the direct-social genetic covariance matrix (--h2 too small for --social)"
                           : "the genetic covariance matrix");
  }
}

static void PopulationCreate(Population *p, const Options *opt, Rng *rng)
{
  int64_t nfounders, rest;
  double  sum = 0;

  p->opt     = *opt;
  p->n       = opt->animals;
  p->nherds  = opt->herds;
  p->ngen    = opt->generations + 1;
  p->ntraits = opt->traits;
  p->nvalues = opt->traits + opt->maternal + opt->social;
  SetCovariances(p, opt);

  /* founders are generation 0; the others are shared out evenly over generations 1..G */
  nfounders = llround(opt->founder_fraction * (double)p->n);
  if (nfounders < 2) nfounders = 2;
  if (nfounders > p->n - opt->generations) Die("--founder-fraction %g leaves no room for %lld generations", opt->founder_fraction, (long long)opt->generations);
  rest         = p->n - nfounders;
  p->gen_start = Allocate((size_t)p->ngen + 1, sizeof(int64_t));
  for (int64_t g = 1; g <= p->ngen; g++) p->gen_start[g] = nfounders + rest * (g - 1) / opt->generations;
  if (opt->social) {
    int64_t largest = 0;
    for (int64_t g = 1; g < p->ngen; g++)
      if (p->gen_start[g + 1] - p->gen_start[g] > largest) largest = p->gen_start[g + 1] - p->gen_start[g];
    RngSeed(&p->social_rng, opt->seed ^ SOCIAL_STREAM);
    p->pending   = Allocate((size_t)largest, sizeof(Record));
    p->hys_start = Allocate((size_t)(p->nherds * SEASONS + 1), sizeof(int64_t));
    p->by_hys    = Allocate((size_t)largest, sizeof(int32_t));
    p->pen_of    = Allocate((size_t)largest, sizeof(int32_t));
    p->pen_value = Allocate((size_t)largest, sizeof(double));
  }

  p->sire = Allocate((size_t)p->n, sizeof(int32_t));
  p->dam  = Allocate((size_t)p->n, sizeof(int32_t));
  if (opt->genotyped) {
    p->true_sire = Allocate((size_t)p->n, sizeof(int32_t));
    p->true_dam  = Allocate((size_t)p->n, sizeof(int32_t));
  }
  p->tbv = Allocate((size_t)p->n * (size_t)p->nvalues, sizeof(double));
  if (opt->maternal) p->mpe = Allocate((size_t)p->n, sizeof(double));
  p->herd         = Allocate((size_t)p->n, sizeof(int32_t));
  p->male         = Allocate((size_t)p->n, sizeof(uint8_t));
  p->males        = Allocate((size_t)p->n, sizeof(int32_t));
  p->male_cum     = Allocate((size_t)p->n, sizeof(double));
  p->male_progeny = Allocate((size_t)p->n, sizeof(int32_t));
  p->male_start   = Allocate((size_t)p->ngen + 1, sizeof(int64_t));
  p->females      = Allocate((size_t)p->n, sizeof(int32_t));
  p->female_start = Allocate((size_t)(p->ngen * p->nherds + 1), sizeof(int64_t));
  p->hys_effect   = Allocate((size_t)((p->ngen - 1) * p->nherds * SEASONS), sizeof(double));
  for (int64_t k = 0; k < (p->ngen - 1) * p->nherds * SEASONS; k++) p->hys_effect[k] = NAN;
  if (opt->traits == 2) p->hys_effect2 = Allocate((size_t)((p->ngen - 1) * p->nherds * SEASONS), sizeof(double));

  /* herd sizes vary about threefold (log-normal); each herd belongs to one country */
  p->herd_country = Allocate((size_t)p->nherds, sizeof(uint8_t));
  p->herd_cum     = Allocate((size_t)p->nherds, sizeof(double));
  for (int64_t h = 0; h < p->nherds; h++) {
    double u = RngUniform(rng), c = 0;
    int    k = 0;
    while (k < NCOUNTRIES - 1 && u >= (c += COUNTRY_WEIGHT[k])) k++;
    p->herd_country[h] = (uint8_t)k;
    p->herd_cum[h]     = (sum += exp(0.5 * RngNormal(rng)));
  }
}

static void PopulationDestroy(Population *p)
{
  free(p->gen_start);
  free(p->sire);
  free(p->dam);
  free(p->true_sire);
  free(p->true_dam);
  free(p->tbv);
  free(p->mpe);
  free(p->herd);
  free(p->male);
  free(p->males);
  free(p->male_cum);
  free(p->male_progeny);
  free(p->male_start);
  free(p->females);
  free(p->female_start);
  free(p->hys_effect);
  free(p->hys_effect2);
  free(p->herd_country);
  free(p->herd_cum);
  free(p->pending);
  free(p->hys_start);
  free(p->by_hys);
  free(p->pen_of);
  free(p->pen_value);
}

/* A sire for generation g: a male of generations g-3..g-1 by popularity, or -1 if there is none. */
static int32_t DrawSire(Population *p, Rng *rng, int64_t g)
{
  int64_t g0 = g > MAX_PARENT_GENERATIONS ? g - MAX_PARENT_GENERATIONS : 0, lo = p->male_start[g0], hi = p->male_start[g], j;
  double  base;
  if (lo == hi) return -1;
  base = lo ? p->male_cum[lo - 1] : 0;
  j    = SearchCumulative(p->male_cum, lo, hi, base + RngUniform(rng) * (p->male_cum[hi - 1] - base));
  p->male_progeny[j]++;
  return p->males[j];
}

/* A dam for generation g in herd h: a female of generations g-3..g-1, mostly of herd h, or -1 if there is none. */
static int32_t DrawDam(const Population *p, Rng *rng, int64_t g, int64_t h)
{
  int64_t g0 = g > MAX_PARENT_GENERATIONS ? g - MAX_PARENT_GENERATIONS : 0, lo, hi;
  if (RngUniform(rng) < SAME_HERD_DAM) {
    int64_t count = 0, j;
    for (int64_t k = g0; k < g; k++) count += p->female_start[k * p->nherds + h + 1] - p->female_start[k * p->nherds + h];
    if (count) {
      j = RngBelow(rng, count);
      for (int64_t k = g0; k < g; k++) {
        int64_t first = p->female_start[k * p->nherds + h], size = p->female_start[k * p->nherds + h + 1] - first;
        if (j < size) return p->females[first + j];
        j -= size;
      }
    }
  }
  /* a bought-in cow, or a herd without cows: any female of those generations (one contiguous range) */
  lo = p->female_start[g0 * p->nherds];
  hi = p->female_start[g * p->nherds];
  return lo == hi ? -1 : p->females[lo + RngBelow(rng, hi - lo)];
}

/* Makes generation g's males and females available as parents of the generations after it. */
static void IndexGeneration(Population *p, Rng *rng, int64_t g, int64_t *fill)
{
  int64_t  first = p->gen_start[g], last = p->gen_start[g + 1], m = p->male_start[g];
  int64_t *start = p->female_start + g * p->nherds; /* start[nherds] is the next generation's start[0] */
  double   cum   = m ? p->male_cum[m - 1] : 0;

  /* males: Pareto popularity, so most bulls have a handful of calves and a few have thousands */
  for (int64_t i = first; i < last; i++)
    if (p->male[i]) {
      p->males[m]    = (int32_t)i;
      p->male_cum[m] = (cum += pow(1 - RngUniform(rng), -1 / SIRE_PARETO));
      m++;
    }
  p->male_start[g + 1] = m;

  /* females: a counting sort by herd */
  for (int64_t h = 0; h < p->nherds; h++) fill[h] = 0;
  for (int64_t i = first; i < last; i++)
    if (!p->male[i]) fill[p->herd[i]]++;
  for (int64_t h = 0; h < p->nherds; h++) {
    start[h + 1] = start[h] + fill[h];
    fill[h]      = start[h];
  }
  for (int64_t i = first; i < last; i++)
    if (!p->male[i]) p->females[fill[p->herd[i]]++] = (int32_t)i;
}

/* Animal i's record, drawn into *r; true_dam is its real dam (-1 if none), whose maternal effects it gets even where the file hides her. */
static void DrawRecord(Population *p, Rng *rng, Record *r, int32_t i, int32_t true_dam, int64_t g)
{
  const double *u      = p->tbv + (size_t)i * (size_t)p->nvalues;
  int           season = 1 + RngBelow(rng, SEASONS);
  long          age;
  double        missing, e[2] = {0, 0}, maternal = 0;

  r->animal = i;
  r->hys    = ((g - 1) * p->nherds + p->herd[i]) * SEASONS + season - 1;
  if (isnan(p->hys_effect[r->hys])) {
    p->hys_effect[r->hys] = sqrt(HYS_VARIANCE) * RngNormal(rng);
    if (p->hys_effect2) p->hys_effect2[r->hys] = sqrt(HYS_VARIANCE_SECOND) * RngNormal(rng);
    p->nhys++;
  }
  do age = lround(180 + 30 * RngNormal(rng));
  while (age <= 0);
  r->age = (int32_t)age;
  if (p->opt.maternal && true_dam >= 0) maternal = p->tbv[(size_t)true_dam * (size_t)p->nvalues + (size_t)p->nvalues - 1] + p->mpe[true_dam];

  /* one uniform decides which trait is NA, so that no record has both; a single trait draws
     its residual only when observed, as it always did */
  missing = RngUniform(rng);
  if (p->ntraits == 2) {
    double z0 = RngNormal(rng), z1 = RngNormal(rng);
    e[0] = p->residual[0][0] * z0;
    e[1] = p->residual[1][0] * z0 + p->residual[1][1] * z1;
  } else if (missing >= MISSING_WEIGHT)
    e[0] = p->residual[0][0] * RngNormal(rng);
  if (missing < MISSING_WEIGHT) {
    r->y[0] = NAN;
    p->nmissing++;
  } else
    r->y[0] = 100 + p->hys_effect[r->hys] + (p->male[i] ? MALE_EFFECT : 0) + AGE_SLOPE * (double)age + u[0] + maternal + e[0];
  r->y[1] = NAN;
  if (p->ntraits == 2) {
    if (missing >= MISSING_WEIGHT && missing < MISSING_WEIGHT + MISSING_SECOND)
      p->nmissing2++;
    else
      r->y[1] = 50 + p->hys_effect2[r->hys] + (p->male[i] ? MALE_EFFECT_SECOND : 0) + AGE_SLOPE_SECOND * (double)age + u[1] + e[1];
  }
  p->nrecords++;
}

/* The data line of record r; with --social (pen >= 0) its pen and the pen's effects on it, pen_effects, added to the trait. */
static void PutRecord(const Population *p, Out *data, const Record *r, int64_t pen, double pen_effects)
{
  const int32_t i = r->animal;

  OutLine(data);
  PutId(data, p, i);
  PutString(data, " H");
  PutUnsigned(data, (uint64_t)p->herd[i], p->nherds > 99999 ? 7 : 5);
  PutChar(data, 'Y');
  PutUnsigned(data, (uint64_t)(r->hys / (p->nherds * SEASONS) + 1), 2);
  PutChar(data, 'S');
  PutUnsigned(data, (uint64_t)(r->hys % SEASONS + 1), 1);
  PutString(data, p->male[i] ? " M " : " F ");
  if (p->opt.maternal) {
    PutParent(data, p, p->dam[i]);
    PutChar(data, ' ');
  }
  PutUnsigned(data, (uint64_t)r->age, 1);
  PutChar(data, ' ');
  if (pen >= 0) {
    PutChar(data, 'p');
    PutUnsigned(data, (uint64_t)pen, 1);
    PutChar(data, ' ');
  }
  for (int t = 0; t < p->ntraits; t++) {
    if (t) PutChar(data, ' ');
    if (isnan(r->y[t]))
      PutString(data, "NA");
    else
      PutFixed(data, r->y[t] + (t ? 0 : pen_effects), 4);
  }
  PutChar(data, '\n');
}

/* --social: cuts the generation's pending records into pens within each herd-year-season, in file
   order (the last pen takes the remainder; one of fewer than PEN_MIN joins the pen before it, where
   there is one), and writes them in file order, each with its pen's effect and the social values of
   its pen mates.  A record with NA is a member like the others: its animal still acts on its mates. */
static void WritePens(Population *p, Out *data, int64_t g)
{
  const int64_t nh = p->nherds * SEASONS, first_hys = (g - 1) * nh, nv = p->nvalues;
  Rng          *rng   = &p->social_rng;
  int64_t       npens = 0;

  /* a stable counting sort of the records by hys */
  for (int64_t h = 0; h <= nh; h++) p->hys_start[h] = 0;
  for (int64_t k = 0; k < p->npending; k++) p->hys_start[p->pending[k].hys - first_hys + 1]++;
  for (int64_t h = 0; h < nh; h++) p->hys_start[h + 1] += p->hys_start[h];
  for (int64_t k = 0; k < p->npending; k++) p->by_hys[p->hys_start[p->pending[k].hys - first_hys]++] = (int32_t)k;
  for (int64_t h = nh; h > 0; h--) p->hys_start[h] = p->hys_start[h - 1]; /* the fill left each start at the next one's */
  p->hys_start[0] = 0;

  for (int64_t h = 0; h < nh; h++) {
    int64_t a = p->hys_start[h], b = p->hys_start[h + 1];
    for (int64_t k = a; k < b;) {
      int64_t size = PEN_MIN + RngBelow(rng, PEN_MAX - PEN_MIN + 1), pen;
      if (size > b - k) size = b - k;
      if (size < PEN_MIN && k > a)
        pen = npens - 1;
      else {
        pen               = npens++;
        p->pen_value[pen] = sqrt(PEN_VARIANCE) * RngNormal(rng);
        if (size < PEN_MIN) p->nsmall_pens++; /* a herd-year-season of fewer than PEN_MIN records */
      }
      for (int64_t m = k; m < k + size; m++) {
        int32_t r    = p->by_hys[m];
        p->pen_of[r] = (int32_t)pen;
        p->pen_value[pen] += p->tbv[(size_t)(p->pending[r].animal * nv + nv - 1)];
      }
      k += size;
    }
  }
  /* no dilution: the mates' social values in full, the record's own taken back out */
  for (int64_t k = 0; k < p->npending; k++) {
    const Record *r = &p->pending[k];
    PutRecord(p, data, r, p->npens + p->pen_of[k], p->pen_value[p->pen_of[k]] - p->tbv[(size_t)(r->animal * nv + nv - 1)]);
  }
  p->npens += npens;
  p->npending = 0;
}

static void WritePedigreeLine(Out *o, const Population *p, int32_t i)
{
  OutLine(o);
  PutId(o, p, i);
  PutChar(o, ' ');
  PutParent(o, p, p->sire[i]);
  PutChar(o, ' ');
  PutParent(o, p, p->dam[i]);
  PutChar(o, '\n');
}

static double QtlValue(const Genome *g, int64_t i);
static double QtlDrop(Genome *g, int64_t i, int32_t s, int32_t d);

/* True value j of animal a less what its QTL give it (--qtl): the part that follows the pedigree */
static double Polygenic(const Population *p, int32_t a, size_t j)
{
  return p->tbv[(size_t)a * (size_t)p->nvalues + j] - (p->qtl && j == 0 ? QtlValue(p->qtl, a) : 0);
}

/* Breeds all generations in birth order, writing records, true values and (unshuffled) pedigree lines on the way. */
static void Simulate(Population *p, Rng *rng, Out *pedigree, Out *data, Out *truth)
{
  const size_t nv   = (size_t)p->nvalues;
  int64_t     *fill = Allocate((size_t)p->nherds, sizeof(int64_t));

  OutLine(data);
  PutString(data, p->opt.maternal ? "animal hys sex dam age weight" : p->opt.social ? "animal hys sex age pen weight" : "animal hys sex age weight");
  PutString(data, p->ntraits == 2 ? " weight2\n" : "\n");
  OutLine(truth);
  PutString(truth, "animal tbv");
  if (p->ntraits == 2) PutString(truth, " tbv2");
  if (p->opt.maternal) PutString(truth, " tbv_m");
  if (p->opt.social) PutString(truth, " tbv_s");
  if (p->qtl) PutString(truth, " qtl");
  PutChar(truth, '\n');
  for (int64_t g = 0; g < p->ngen; g++) {
    for (int64_t i = p->gen_start[g]; i < p->gen_start[g + 1]; i++) {
      int64_t h = SearchCumulative(p->herd_cum, 0, p->nherds, RngUniform(rng) * p->herd_cum[p->nherds - 1]);
      int32_t s = -1, d = -1;
      double *u = p->tbv + (size_t)i * nv, z[MAX_VALUES];

      p->herd[i] = (int32_t)h;
      p->male[i] = RngUniform(rng) < 0.5;
      if (g > 0) {
        s = DrawSire(p, rng, g);
        d = DrawDam(p, rng, g, h);
      }
      /* u = (u_s + u_d)/2 + Mendelian sampling, each true value of the vector alike, the sampling
         drawn with the Cholesky factor of its covariance.  Inbreeding is ignored in the sampling
         covariance: G/2 with both parents, 3/4 G with one, G with none (founders, or an empty
         parent generation in a tiny run).  Parents missing from the file below are only hidden:
         the true value always uses the real parents.  The social value (last) draws from a
         generator of its own, as do the pens, so that a seed gives the same pedigree, direct values
         and records with --social as without: the two evaluations differ only by the social
         effects (where --herds is the same).  With --qtl this is the polygenic part, and the QTL
         value of the animal's own QTL alleles is added. */
      for (size_t j = 0; j < nv; j++) z[j] = RngNormal(p->opt.social && j == nv - 1 ? &p->social_rng : rng);
      for (size_t j = 0; j < nv; j++) {
        double mean = 0, sampling = 0;
        if (s >= 0) mean += Polygenic(p, s, j) / 2;
        if (d >= 0) mean += Polygenic(p, d, j) / 2;
        for (size_t l = 0; l <= j; l++) sampling += p->mendel[(s >= 0) + (d >= 0)][j][l] * z[l];
        u[j] = mean + sampling;
      }
      if (p->qtl) u[0] += QtlDrop(p->qtl, i, s, d); /* the genes follow the real parents */
      if (p->mpe && !p->male[i]) p->mpe[i] = sqrt(MATERNAL_PE_VARIANCE) * RngNormal(rng);
      if (p->true_sire) {
        p->true_sire[i] = s;
        p->true_dam[i]  = d;
      }
      p->sire[i] = s >= 0 && RngUniform(rng) < p->opt.missing_parent ? -1 : s;
      p->dam[i]  = d >= 0 && RngUniform(rng) < p->opt.missing_parent ? -1 : d;

      if (g > 0 && RngUniform(rng) < p->opt.record_fraction) {
        if (p->opt.social) /* written with its pen, once the generation is complete */
          DrawRecord(p, rng, &p->pending[p->npending++], (int32_t)i, d, g);
        else {
          Record r;
          DrawRecord(p, rng, &r, (int32_t)i, d, g);
          PutRecord(p, data, &r, -1, 0);
        }
      }
      OutLine(truth);
      PutId(truth, p, (int32_t)i);
      for (size_t j = 0; j < nv; j++) {
        PutChar(truth, ' ');
        PutFixed(truth, u[j], 6);
      }
      if (p->qtl) {
        PutChar(truth, ' ');
        PutFixed(truth, QtlValue(p->qtl, i), 6);
      }
      PutChar(truth, '\n');
      if (!p->opt.shuffle) WritePedigreeLine(pedigree, p, (int32_t)i);
    }
    if (p->opt.social && g > 0) WritePens(p, data, g);
    IndexGeneration(p, rng, g, fill);
  }
  free(fill);

  if (p->opt.shuffle) { /* Fisher-Yates over the birth order: parents may now follow their progeny */
    int32_t *order = Allocate((size_t)p->n, sizeof(int32_t));
    for (int64_t k = 0; k < p->n; k++) order[k] = (int32_t)k;
    for (int64_t k = p->n - 1; k > 0; k--) {
      int32_t j = RngBelow(rng, k + 1), t = order[k];
      order[k] = order[j];
      order[j] = t;
    }
    for (int64_t k = 0; k < p->n; k++) WritePedigreeLine(pedigree, p, order[k]);
    free(order);
  }
}

/* ---- Genotypes: SNPs dropped through the pedigree ---- */

/* A haplotype is a bit array of `words` 64-bit words, bit j of word j/64 for SNP j, 1 for the second
   allele; an animal's two (from its sire, then from its dam) lie in one array of 2 * words.  At the end
   a genotyped animal's pair is turned into the two bits of its PLINK codes (see CallGenotypes). */
struct Genome {
  int64_t    nsnp, words, nchrom;
  int64_t   *chrom_start; /* [nchrom + 1] first SNP of each chromosome */
  uint64_t  *frequency;   /* [words * FREQUENCY_BITS] the founder frequencies' bits: FREQUENCY_BITS bit planes per word of SNPs */
  uint64_t   seed;        /* of the generators of each meiosis and founder haplotype word */
  double    *q;           /* [nsnp] the founders' frequency of the second allele */
  uint64_t  *history;     /* --history: [history_size * 2 * words] the haplotypes of its last generation, else NULL */
  int64_t    history_size;
  uint64_t  *scratch;         /* [words] */
  Rng        rng;             /* the frequencies, the genotyped animals chosen, the missing calls */
  uint64_t **hap;             /* [n + noutside] each animal's haplotypes while needed, else NULL */
  uint8_t   *typed_flag;      /* [n] genotyped */
  int32_t   *last_use;        /* [n] the last animal whose genes come from this one (through genotyped descendants), -1 if none */
  int32_t   *typed;           /* [ntyped] the genotyped animals in file order: pedigree animals in birth order, then the outsiders n.. */
  uint8_t   *outside_country; /* [noutside] */
  uint64_t  *missing;         /* [words] one animal's missing calls */
  int64_t    n, ntyped, noutside, ndropped, nmissing;
  size_t     held, peak; /* haplotype arrays now and at most at once */
  /* --qtl */
  int64_t   nqtl, qwords;
  int64_t  *qtl_snp;      /* [nqtl] the QTL's SNPs, ascending */
  int64_t  *qtl_start;    /* [nchrom + 1] first QTL of each chromosome */
  double   *qtl_effect;   /* [nqtl] of each copy of the second allele */
  double    qtl_mean;     /* the founders' mean QTL value, taken off every animal's */
  double    qtl_variance; /* their genic variance, sum 2 q (1 - q) a^2 */
  uint64_t *qtl_hap;      /* [n * 2 * qwords] every animal's QTL alleles, bit k of word k/64 for QTL k, sire's then dam's */
  double   *qtl_value;    /* [n] */
};

/* 4 SNPs of the two code bits (low nibble: bit 0, high nibble: bit 1) as text digits, and as 4 bytes of the codes (see WriteBed) */
static char     DIGITS[256][4];
static uint32_t CODE_BYTES[256];

static void MakeTables(void)
{
  static const char digit[4] = {'2', '5', '1', '0'}; /* by PLINK code: copies of the first allele, 5 missing */
  for (int x = 0; x < 256; x++) {
    CODE_BYTES[x] = 0;
    for (int s = 0; s < 4; s++) {
      int code     = ((x >> s) & 1) | (((x >> (4 + s)) & 1) << 1);
      DIGITS[x][s] = digit[code];
      CODE_BYTES[x] |= (uint32_t)code << (8 * s);
    }
  }
}

static void HaplotypesNew(Genome *g, int64_t i)
{
  g->hap[i] = Allocate((size_t)(2 * g->words), sizeof(uint64_t));
  if (++g->held > g->peak) g->peak = g->held;
  g->ndropped++;
}

static void HaplotypesFree(Genome *g, int64_t i)
{
  free(g->hap[i]);
  g->hap[i] = NULL;
  g->held--;
}

/* A generator of its own for (stream, a, b): a meiosis (child, side) or a founder haplotype's word,
   so that the QTL (as the pedigree is made) and the genotypes (later) draw the same genes. */
static void RngSeedAt(Rng *r, uint64_t seed, uint64_t a, uint64_t b)
{
  uint64_t x = seed, h = SplitMix64(&x);
  x = h ^ a;
  h = SplitMix64(&x);
  x = h ^ b;
  RngSeed(r, SplitMix64(&x));
}

/* Word w of haplotype k (0 from the sire, 1 from the dam) of founder a: bit j is 1 with SNP j's
   frequency q = sum_b q_b 2^(b - FREQUENCY_BITS).  From the lowest bit plane up, r = (q_b ? u | r :
   u & r) with fair random bits u gives P(r) = q_b/2 + P(r)/2, so 64 SNPs of different frequencies
   take FREQUENCY_BITS draws instead of 64.  Bits beyond the last SNP have frequency 0 and stay 0. */
static uint64_t FounderWord(const Genome *g, int64_t a, int k, int64_t w)
{
  const uint64_t *q = g->frequency + w * FREQUENCY_BITS;
  uint64_t        r = 0;
  Rng             rng;
  RngSeedAt(&rng, g->seed ^ FOUNDER_STREAM, (uint64_t)(2 * a + k), (uint64_t)w);
  for (int b = 0; b < FREQUENCY_BITS; b++) {
    uint64_t u = RngNext(&rng);
    r          = (q[b] & (u | r)) | (~q[b] & u & r);
  }
  return r;
}

static void GameteFrom(const Genome *g, Rng *rng, const uint64_t *parent, uint64_t *h);

/* Haplotype k of founder a: in linkage equilibrium word by word, or (--history) a gamete of a random
   animal of the historical population's last generation, drawn from the founder's own generator. */
static void FounderHaplotype(const Genome *g, int64_t a, int k, uint64_t *h)
{
  Rng rng;
  if (!g->history) {
    for (int64_t w = 0; w < g->words; w++) h[w] = FounderWord(g, a, k, w);
    return;
  }
  RngSeedAt(&rng, g->seed ^ FOUNDER_STREAM, (uint64_t)(2 * a + k), UINT64_MAX);
  GameteFrom(g, &rng, g->history + (size_t)RngBelow(&rng, g->history_size) * 2 * (size_t)g->words, h);
}

/* Bits a..b-1 of src to the same places of dst. */
static void CopyBits(uint64_t *dst, const uint64_t *src, int64_t a, int64_t b)
{
  int64_t  wa, wb;
  uint64_t ma, mb;
  if (a >= b) return;
  wa = a >> 6;
  wb = (b - 1) >> 6;
  ma = ~(uint64_t)0 << (a & 63);
  mb = ~(uint64_t)0 >> (63 - ((b - 1) & 63));
  if (wa == wb) ma &= mb;
  dst[wa] = (dst[wa] & ~ma) | (src[wa] & ma);
  if (wa == wb) return;
  if (wb > wa + 1) memcpy(dst + wa + 1, src + wa + 1, (size_t)(wb - wa - 1) * sizeof(uint64_t));
  dst[wb] = (dst[wb] & ~mb) | (src[wb] & mb);
}

/* Poisson(1) by Knuth's product of uniforms, capped at MAX_CROSSOVERS */
static int Crossovers(Rng *rng)
{
  double product = RngUniform(rng);
  int    k       = 0;
  while (product > EXP_MINUS_ONE && k < MAX_CROSSOVERS) {
    product *= RngUniform(rng);
    k++;
  }
  return k;
}

/* Chromosome c of a meiosis: its crossovers, as the first SNPs after them in ascending order into
   cut (their number returned), and the strand it starts on (independent assortment).  SNP k of a
   chromosome of m SNPs sits at (k + 1/2)/m Morgan, so a crossover at x switches strands from SNP
   floor(x m + 1/2) on: SNP j comes from strand ^ (the number of cuts <= j) & 1. */
static int Meiosis(const Genome *g, Rng *rng, int64_t c, int64_t cut[MAX_CROSSOVERS], int *strand)
{
  int64_t a = g->chrom_start[c], b = g->chrom_start[c + 1];
  int     k = Crossovers(rng);
  *strand   = (int)(RngNext(rng) >> 63);
  for (int x = 0; x < k; x++) { /* insertion sort: k is about 1 */
    int64_t y = a + (int64_t)(RngUniform(rng) * (double)(b - a) + 0.5);
    int     z = x;
    for (; z > 0 && cut[z - 1] > y; z--) cut[z] = cut[z - 1];
    cut[z] = y;
  }
  return k;
}

/* A gamete of parent (its two haplotypes) into h, the meiosis drawn from rng */
static void GameteFrom(const Genome *g, Rng *rng, const uint64_t *parent, uint64_t *h)
{
  for (int64_t c = 0; c < g->nchrom; c++) {
    int64_t cut[MAX_CROSSOVERS], from = g->chrom_start[c], b = g->chrom_start[c + 1];
    int     strand, k = Meiosis(g, rng, c, cut, &strand);
    for (int x = 0; x < k; x++) {
      CopyBits(h, parent + strand * g->words, from, cut[x]);
      strand ^= 1;
      from = cut[x];
    }
    CopyBits(h, parent + strand * g->words, from, b);
  }
}

/* The gamete that parent gives child on side k (0 as sire, 1 as dam), into h: the meiosis's own generator. */
static void Gamete(const Genome *g, const uint64_t *parent, int64_t child, int side, uint64_t *h)
{
  Rng rng;
  RngSeedAt(&rng, g->seed ^ MEIOSIS_STREAM, (uint64_t)(2 * child + side), 0);
  GameteFrom(g, &rng, parent, h);
}

/* --history T: a Wright-Fisher population of Ne, from haplotypes in linkage equilibrium, T generations
   of random mating (a random parent for each gamete), so that drift makes linkage disequilibrium between
   nearby SNPs (r^2 about 1/(1 + 4 Ne c) in the long run) and the pedigree's founders are related.  The
   last generation's 2 Ne haplotypes are kept, and the SNPs' founder frequencies become their allele shares. */
static void HistoryCreate(Genome *g, const Options *o)
{
  const size_t pair = 2 * (size_t)g->words;
  uint64_t    *next;
  Rng          rng;

  g->history_size = o->history_size;
  g->history      = Allocate((size_t)g->history_size * pair, sizeof(uint64_t));
  next            = Allocate((size_t)g->history_size * pair, sizeof(uint64_t));
  RngSeed(&rng, g->seed ^ HISTORY_STREAM);
  for (int64_t i = 0; i < 2 * g->history_size; i++)
    for (int64_t w = 0; w < g->words; w++) g->history[(size_t)i * (size_t)g->words + (size_t)w] = FounderWord(g, -1 - i, 0, w);
  for (int64_t t = 0; t < o->history; t++) {
    uint64_t *swap;
    for (int64_t i = 0; i < g->history_size; i++)
      for (int side = 0; side < 2; side++)
        GameteFrom(g, &rng, g->history + (size_t)RngBelow(&rng, g->history_size) * pair, next + (size_t)i * pair + (size_t)side * (size_t)g->words);
    swap       = g->history;
    g->history = next;
    next       = swap;
  }
  free(next);
  for (int64_t j = 0; j < g->nsnp; j++) {
    int64_t count = 0;
    for (int64_t i = 0; i < 2 * g->history_size; i++) count += (int64_t)((g->history[(size_t)i * (size_t)g->words + (size_t)(j / 64)] >> (j % 64)) & 1);
    g->q[j] = (double)count / (double)(2 * g->history_size);
  }
}

/* Marks n_in animals of the pedigree as genotyped: uniformly among the last TYPED_GENERATIONS
   generations, or all of the later generations and the rest uniformly from the one generation
   before them that has enough. */
static void ChooseTyped(Genome *g, const Population *p, int64_t n_in)
{
  int64_t last = p->ngen > TYPED_GENERATIONS ? p->ngen - TYPED_GENERATIONS : 0, g0 = last, lo, hi, want;
  while (g0 > 0 && p->n - p->gen_start[g0] < n_in) g0--;
  lo   = p->gen_start[g0];
  hi   = g0 < last ? p->gen_start[g0 + 1] : p->n; /* drawn from lo..hi-1, all of hi..n-1 */
  want = n_in - (p->n - hi);
  for (int64_t i = lo; i < hi; i++) /* selection sampling: exactly `want` of them, each alike */
    if (RngUniform(&g->rng) * (double)(hi - i) < (double)want) {
      g->typed_flag[i] = 1;
      want--;
    }
  for (int64_t i = hi; i < p->n; i++) g->typed_flag[i] = 1;
}

/* last_use: from the youngest back, every animal that is genotyped or has a genotyped descendant
   passes that on to its real parents, the first time with the last of their offspring that needs them. */
static void MarkAncestors(Genome *g, const Population *p)
{
  for (int64_t i = 0; i < p->n; i++) g->last_use[i] = -1;
  for (int64_t i = p->n - 1; i >= 0; i--) {
    const int32_t parent[2] = {p->true_sire[i], p->true_dam[i]};
    if (!g->typed_flag[i] && g->last_use[i] < 0) continue;
    for (int k = 0; k < 2; k++)
      if (parent[k] >= 0 && g->last_use[parent[k]] < 0) g->last_use[parent[k]] = (int32_t)i;
  }
}

static double Frequency(const Genome *g, int64_t j);

/* The SNPs: chromosomes and founder frequencies, and the historical population (before the pedigree,
   which --qtl needs them for) */
static void GenomeLayout(Genome *g, const Options *o)
{
  g->n        = o->animals;
  g->nsnp     = o->snps;
  g->words    = (o->snps + 63) / 64;
  g->nchrom   = o->chromosomes;
  g->ntyped   = o->genotyped;
  g->noutside = OutsideCount(o->genotyped);
  g->seed     = o->seed ^ GENOTYPE_STREAM;
  RngSeed(&g->rng, g->seed);
  MakeTables();

  g->chrom_start = Allocate((size_t)g->nchrom + 1, sizeof(int64_t));
  for (int64_t c = 0; c <= g->nchrom; c++) g->chrom_start[c] = g->nsnp * c / g->nchrom;
  g->frequency = Allocate((size_t)(g->words * FREQUENCY_BITS), sizeof(uint64_t));
  for (int64_t j = 0; j < g->nsnp; j++) {
    double   f = FREQUENCY_MIN + (FREQUENCY_MAX - FREQUENCY_MIN) * RngUniform(&g->rng);
    uint64_t q = (uint64_t)llround(ldexp(f, FREQUENCY_BITS));
    for (int b = 0; b < FREQUENCY_BITS; b++)
      if ((q >> b) & 1) g->frequency[(j / 64) * FREQUENCY_BITS + b] |= (uint64_t)1 << (j % 64);
  }
  g->q       = Allocate((size_t)g->nsnp, sizeof(double));
  g->scratch = Allocate((size_t)g->words, sizeof(uint64_t));
  for (int64_t j = 0; j < g->nsnp; j++) g->q[j] = Frequency(g, j);
  if (o->history) HistoryCreate(g, o);
}

/* SNP j's frequency of the second allele in the haplotypes drawn by FounderWord */
static double Frequency(const Genome *g, int64_t j)
{
  uint64_t q = 0;
  for (int b = 0; b < FREQUENCY_BITS; b++) q |= ((g->frequency[(j / 64) * FREQUENCY_BITS + b] >> (j % 64)) & 1) << b;
  return ldexp((double)q, -FREQUENCY_BITS);
}

/* --qtl: Q SNPs drawn uniformly (selection sampling, so ascending), normal effects scaled to a genic
   variance of share x h2 in the founders, and room for every animal's QTL alleles. */
static void QtlCreate(Genome *g, const Options *o)
{
  Rng     rng;
  int64_t want = o->qtl, k = 0;
  double  v = 0, scale;

  RngSeed(&rng, o->seed ^ QTL_STREAM);
  g->nqtl       = o->qtl;
  g->qwords     = (o->qtl + 63) / 64;
  g->qtl_snp    = Allocate((size_t)g->nqtl, sizeof(int64_t));
  g->qtl_start  = Allocate((size_t)g->nchrom + 1, sizeof(int64_t));
  g->qtl_effect = Allocate((size_t)g->nqtl, sizeof(double));
  for (int64_t j = 0; j < g->nsnp && want; j++)
    if (RngUniform(&rng) * (double)(g->nsnp - j) < (double)want) {
      g->qtl_snp[k++] = j;
      want--;
    }
  for (int64_t c = 0, q = 0; c <= g->nchrom; c++) {
    while (q < g->nqtl && g->qtl_snp[q] < g->chrom_start[c]) q++;
    g->qtl_start[c] = q;
  }
  for (int64_t q = 0; q < g->nqtl; q++) {
    double f         = g->q[g->qtl_snp[q]];
    g->qtl_effect[q] = RngNormal(&rng);
    v += 2 * f * (1 - f) * g->qtl_effect[q] * g->qtl_effect[q];
  }
  scale = sqrt(o->qtl_share * o->h2 / v);
  for (int64_t q = 0; q < g->nqtl; q++) {
    g->qtl_effect[q] *= scale;
    g->qtl_mean += 2 * g->q[g->qtl_snp[q]] * g->qtl_effect[q];
  }
  g->qtl_variance = o->qtl_share * o->h2;
  g->qtl_hap      = Allocate((size_t)(g->n * 2 * g->qwords), sizeof(uint64_t));
  g->qtl_value    = Allocate((size_t)g->n, sizeof(double));
}

static double QtlValue(const Genome *g, int64_t i)
{
  return g->qtl_value[i];
}

/* Haplotype `side` of animal i's QTL alleles: a founder's from its founder words (only those with a
   QTL drawn), else the gamete of `parent` from the same meiosis as Gamete's. */
static void QtlHaplotype(Genome *g, int64_t i, int side, int32_t parent)
{
  uint64_t       *h  = g->qtl_hap + (size_t)(i * 2 + side) * (size_t)g->qwords;
  const uint64_t *ph = parent >= 0 ? g->qtl_hap + (size_t)parent * 2 * (size_t)g->qwords : NULL;
  Rng             rng;
  int64_t         last = -1;
  uint64_t        word = 0;

  if (!ph && g->history) { /* the whole gamete, then its QTL */
    FounderHaplotype(g, i, side, g->scratch);
    for (int64_t q = 0; q < g->nqtl; q++) h[q / 64] |= ((g->scratch[g->qtl_snp[q] / 64] >> (g->qtl_snp[q] % 64)) & 1) << (q % 64);
    return;
  }
  if (!ph) { /* only the words with a QTL */
    for (int64_t q = 0; q < g->nqtl; q++) {
      int64_t j = g->qtl_snp[q];
      if (j / 64 != last) word = FounderWord(g, i, side, last = j / 64);
      h[q / 64] |= ((word >> (j % 64)) & 1) << (q % 64);
    }
    return;
  }
  RngSeedAt(&rng, g->seed ^ MEIOSIS_STREAM, (uint64_t)(2 * i + side), 0);
  for (int64_t c = 0; c < g->nchrom; c++) {
    int64_t cut[MAX_CROSSOVERS];
    int     strand, k = Meiosis(g, &rng, c, cut, &strand), x = 0;
    for (int64_t q = g->qtl_start[c]; q < g->qtl_start[c + 1]; q++) {
      while (x < k && cut[x] <= g->qtl_snp[q]) x++;
      h[q / 64] |= ((ph[((strand ^ x) & 1) * g->qwords + q / 64] >> (q % 64)) & 1) << (q % 64);
    }
  }
}

/* Animal i's QTL alleles from its real parents s and d (-1: none), and its QTL value */
static double QtlDrop(Genome *g, int64_t i, int32_t s, int32_t d)
{
  const uint64_t *h = g->qtl_hap + (size_t)i * 2 * (size_t)g->qwords;
  double          v = -g->qtl_mean;
  QtlHaplotype(g, i, 0, s);
  QtlHaplotype(g, i, 1, d);
  for (int64_t q = 0; q < g->nqtl; q++) v += g->qtl_effect[q] * (double)(((h[q / 64] >> (q % 64)) & 1) + ((h[g->qwords + q / 64] >> (q % 64)) & 1));
  return g->qtl_value[i] = v;
}

/* Dies unless the genotyped animals' SNPs at the QTL carry the alleles the true values were made of */
static void QtlCheck(const Genome *g)
{
  for (int64_t k = 0; k < g->ntyped; k++) {
    int32_t a = g->typed[k];
    if (a >= g->n) continue; /* outside the pedigree: no true value */
    for (int side = 0; side < 2; side++)
      for (int64_t q = 0; q < g->nqtl; q++) {
        int64_t j = g->qtl_snp[q];
        if (((g->hap[a][side * g->words + j / 64] >> (j % 64)) & 1) !=
            ((g->qtl_hap[(size_t)(a * 2 + side) * (size_t)g->qwords + (size_t)(q / 64)] >> (q % 64)) & 1))
          Die("internal error: animal %d's SNP %lld is not the QTL allele its true value was made of", a, (long long)j);
      }
  }
}

/* The genotyped animals and the room for their haplotypes (after the pedigree, which they are chosen from) */
static void GenomeCreate(Genome *g, const Population *p)
{
  int64_t k = 0;

  g->hap             = Allocate((size_t)(p->n + g->noutside), sizeof(uint64_t *));
  g->typed_flag      = Allocate((size_t)p->n, sizeof(uint8_t));
  g->last_use        = Allocate((size_t)p->n, sizeof(int32_t));
  g->typed           = Allocate((size_t)g->ntyped, sizeof(int32_t));
  g->outside_country = Allocate((size_t)g->noutside, sizeof(uint8_t));
  g->missing         = Allocate((size_t)g->words, sizeof(uint64_t));
  ChooseTyped(g, p, g->ntyped - g->noutside);
  MarkAncestors(g, p);
  for (int64_t i = 0; i < p->n; i++)
    if (g->typed_flag[i]) g->typed[k++] = (int32_t)i;
  for (int64_t j = 0; j < g->noutside; j++) { /* any country: imported semen or embryos */
    double u = RngUniform(&g->rng), c = 0;
    int    country = 0;
    while (country < NCOUNTRIES - 1 && u >= (c += COUNTRY_WEIGHT[country])) country++;
    g->outside_country[j] = (uint8_t)country;
    g->typed[k++]         = (int32_t)(p->n + j);
  }
}

static void GenomeDestroy(Genome *g)
{
  if (g->hap)
    for (int64_t i = 0; i < g->n + g->noutside; i++) free(g->hap[i]);
  free(g->hap);
  free(g->chrom_start);
  free(g->frequency);
  free(g->typed_flag);
  free(g->last_use);
  free(g->typed);
  free(g->outside_country);
  free(g->missing);
  free(g->q);
  free(g->history);
  free(g->scratch);
  free(g->qtl_snp);
  free(g->qtl_start);
  free(g->qtl_effect);
  free(g->qtl_hap);
  free(g->qtl_value);
}

/* Gene dropping in birth order (parents before offspring): the haplotypes of the genotyped animals and
   their ancestors; an ancestor's are freed after its last offspring that needs them, so that only a few
   generations are held at once.  The animals outside the pedigree are founders. */
static void DropGenes(Genome *g, const Population *p)
{
  for (int64_t i = 0; i < p->n; i++) {
    const int32_t parent[2] = {p->true_sire[i], p->true_dam[i]};
    if (!g->typed_flag[i] && g->last_use[i] < 0) continue;
    HaplotypesNew(g, i);
    for (int k = 0; k < 2; k++) {
      if (parent[k] < 0)
        FounderHaplotype(g, i, k, g->hap[i] + k * g->words);
      else
        Gamete(g, g->hap[parent[k]], i, k, g->hap[i] + k * g->words);
    }
    for (int k = 0; k < 2; k++)
      if (parent[k] >= 0 && g->last_use[parent[k]] == i && !g->typed_flag[parent[k]]) HaplotypesFree(g, parent[k]);
  }
  for (int64_t j = 0; j < g->noutside; j++) {
    HaplotypesNew(g, p->n + j);
    FounderHaplotype(g, p->n + j, 0, g->hap[p->n + j]);
    FounderHaplotype(g, p->n + j, 1, g->hap[p->n + j] + g->words);
  }
}

/* g->missing: each call missing with chance q, by geometric gaps between the missing ones. */
static void DrawMissing(Genome *g, double q)
{
  memset(g->missing, 0, (size_t)g->words * sizeof(uint64_t));
  if (q <= 0) return;
  for (int64_t j = -1;;) {
    double gap = floor(log(1 - RngUniform(&g->rng)) / log1p(-q)); /* 1 - U in (0, 1] */
    if (gap >= (double)(g->nsnp - 1 - j)) return;
    j += 1 + (int64_t)gap;
    g->missing[j / 64] |= (uint64_t)1 << (j % 64);
    g->nmissing++;
  }
}

static void PutTypedId(Out *o, const Population *p, const Genome *g, int32_t a)
{
  if (a < p->n)
    PutId(o, p, a);
  else
    PutCountryId(o, g->outside_country[a - p->n], a);
}

/* ID, a blank and one digit a SNP, 4 SNPs a table look-up */
static void PutGenotypeLine(Out *o, const Population *p, const Genome *g, int32_t a)
{
  const uint64_t *low = g->hap[a], *high = low + g->words;
  OutLine(o);
  PutTypedId(o, p, g, a);
  PutChar(o, ' ');
  for (int64_t w = 0; w < g->words; w++) {
    OutRoom(o, 64);
    for (int s = 0; s < 64; s += 4) {
      memcpy(o->buffer + o->length, DIGITS[((low[w] >> s) & 15) | (((high[w] >> s) & 15) << 4)], 4);
      o->length += 4;
    }
  }
  o->length -= (size_t)(64 * g->words - g->nsnp); /* the last word's bits beyond the last SNP */
  OutRoom(o, 1);
  PutChar(o, '\n');
}

/* Draws the missing calls of each genotyped animal, in file order, and turns its haplotypes h0, h1 into
   the two bits of its PLINK codes: bit 0 = h0 & h1 | missing, bit 1 = (h0 | h1) & ~missing, so 00 two
   copies of the first allele, 10 one, 11 none, 01 missing.  Both formats are written from these. */
static void CallGenotypes(Genome *g, const Population *p, Out *text)
{
  for (int64_t k = 0; k < g->ntyped; k++) {
    uint64_t *h = g->hap[g->typed[k]];
    DrawMissing(g, p->opt.missing_call);
    for (int64_t w = 0; w < g->words; w++) {
      uint64_t h0 = h[w], h1 = h[g->words + w], m = g->missing[w];
      h[w]            = (h0 & h1) | m;
      h[g->words + w] = (h0 | h1) & ~m;
    }
    if (text) PutGenotypeLine(text, p, g, g->typed[k]);
  }
}

/* SNP-major: for each SNP, (ntyped + 3)/4 bytes, animal k in bits 2(k % 4), 2(k % 4) + 1.  A block of
   64 SNPs at a time, 4 animals by 4 SNPs a step through CODE_BYTES. */
static void WriteBed(const Genome *g, const char *dir)
{
  static const unsigned char magic[3] = {0x6c, 0x1b, 0x01}; /* PLINK 1, SNP-major */
  const int64_t              stride   = (g->ntyped + 3) / 4;
  unsigned char             *block    = Allocate((size_t)(64 * stride), 1);
  Out                        bed;

  OutOpen(&bed, dir, "genotypes.bed");
  OutBytes(&bed, magic, sizeof(magic));
  for (int64_t w = 0; w < g->words; w++) {
    int64_t nj = g->nsnp - 64 * w < 64 ? g->nsnp - 64 * w : 64;
    for (int64_t a = 0; a < g->ntyped; a += 4) {
      uint64_t low[4] = {0}, high[4] = {0}; /* animals past the last one: code 00, as PLINK pads */
      for (int k = 0; k < 4 && a + k < g->ntyped; k++) {
        low[k]  = g->hap[g->typed[a + k]][w];
        high[k] = g->hap[g->typed[a + k]][g->words + w];
      }
      for (int s = 0; s < nj; s += 4) {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) v |= CODE_BYTES[((low[k] >> s) & 15) | (((high[k] >> s) & 15) << 4)] << (2 * k);
        for (int t = 0; t < 4 && s + t < nj; t++) block[(s + t) * stride + a / 4] = (unsigned char)(v >> (8 * t));
      }
    }
    OutBytes(&bed, block, (size_t)(nj * stride));
  }
  OutClose(&bed);
  free(block);
}

/* .bim: chromosome, name, 0 cM, position in bp, the first allele (A, the one counted) and the second (B);
   .fam: the ID as family and individual, no parents, sex or phenotype. */
static void WritePlinkMaps(const Genome *g, const Population *p, const char *dir)
{
  Out bim, fam;
  OutOpen(&bim, dir, "genotypes.bim");
  for (int64_t c = 0; c < g->nchrom; c++) {
    int64_t a = g->chrom_start[c], m = g->chrom_start[c + 1] - a;
    for (int64_t j = a; j < a + m; j++) {
      OutLine(&bim);
      PutUnsigned(&bim, (uint64_t)(c + 1), 1);
      PutString(&bim, " snp");
      PutUnsigned(&bim, (uint64_t)(j + 1), 1);
      PutString(&bim, " 0 ");
      PutUnsigned(&bim, (uint64_t)llround(((double)(j - a) + 0.5) / (double)m * BP_PER_MORGAN), 1);
      PutString(&bim, " A B\n");
    }
  }
  OutClose(&bim);
  OutOpen(&fam, dir, "genotypes.fam");
  for (int64_t k = 0; k < g->ntyped; k++) {
    OutLine(&fam);
    PutTypedId(&fam, p, g, g->typed[k]);
    PutChar(&fam, ' ');
    PutTypedId(&fam, p, g, g->typed[k]);
    PutString(&fam, " 0 0 0 -9\n");
  }
  OutClose(&fam);
}

/* --qtl: qtl.txt, a line per QTL: its SNP's name (as in the .bim), the effect of a copy of the second
   allele (B; the text genotypes count the first) and its founder frequency */
static void WriteQtl(const Genome *g, const char *dir)
{
  Out o;
  OutOpen(&o, dir, "qtl.txt");
  OutLine(&o);
  PutString(&o, "snp effect frequency\n");
  for (int64_t q = 0; q < g->nqtl; q++) {
    OutLine(&o);
    PutString(&o, "snp");
    PutUnsigned(&o, (uint64_t)(g->qtl_snp[q] + 1), 1);
    PutChar(&o, ' ');
    PutFixed(&o, g->qtl_effect[q], 8);
    PutChar(&o, ' ');
    PutFixed(&o, g->q[g->qtl_snp[q]], 8);
    PutChar(&o, '\n');
  }
  OutClose(&o);
}

/* --genotyped: everything above, into genotypes.txt and/or genotypes.bed/.bim/.fam */
static void WriteGenotypes(Genome *g, const Population *p)
{
  Out text;
  GenomeCreate(g, p);
  DropGenes(g, p);
  if (g->nqtl) {
    QtlCheck(g);
    WriteQtl(g, p->opt.out);
  }
  if (p->opt.genotype_format & FORMAT_TEXT) OutOpen(&text, p->opt.out, "genotypes.txt");
  CallGenotypes(g, p, p->opt.genotype_format & FORMAT_TEXT ? &text : NULL);
  if (p->opt.genotype_format & FORMAT_TEXT) OutClose(&text);
  if (p->opt.genotype_format & FORMAT_PLINK) {
    WriteBed(g, p->opt.out);
    WritePlinkMaps(g, p, p->opt.out);
  }
}

/* The lower triangle by rows of the (co)variances among entries first..first+k-1 of M, with 6 significant digits. */
static void PrintLower(FILE *f, const double M[][MAX_VALUES], int first, int k)
{
  for (int i = first; i < first + k; i++)
    for (int j = first; j <= i; j++) fprintf(f, " %g", M[i][j]);
}

static const char *FormatName(int format)
{
  return format == FORMAT_TEXT ? "text" : format == FORMAT_PLINK ? "plink" : "both";
}

static void WriteModel(const Population *p)
{
  const Options *o = &p->opt;
  const int      m = p->nvalues - 1; /* the maternal value's position */
  char           path[4096], genotypes[256] = "";
  char           qtl[128] = "";
  FILE          *f;
  if (o->qtl) snprintf(qtl, sizeof(qtl), " --qtl %lld --qtl-share %g", (long long)o->qtl, o->qtl_share);
  if (o->history)
    snprintf(qtl + strlen(qtl), sizeof(qtl) - strlen(qtl), " --history %lld --history-size %lld", (long long)o->history, (long long)o->history_size);
  if (o->genotyped)
    snprintf(genotypes, sizeof(genotypes), " --genotyped %lld --snps %lld --chromosomes %d --genotype-format %s --missing-call %g%s", (long long)o->genotyped,
             (long long)o->snps, o->chromosomes, FormatName(o->genotype_format), o->missing_call, qtl);
  if ((size_t)snprintf(path, sizeof(path), "%s/model.txt", o->out) >= sizeof(path)) Die("path too long: %s/model.txt", o->out);
  if (!(f = fopen(path, "w"))) Die("cannot create %s: %s", path, strerror(errno));
  fprintf(f,
          "# simulated by henderson-simulate (--animals %lld --generations %lld --herds %lld --founder-fraction %g --record-fraction %g --missing-parent %g "
          "--h2 %g --seed %llu%s%s%s%s%s)\n",
          (long long)o->animals, (long long)o->generations, (long long)o->herds, o->founder_fraction, o->record_fraction, o->missing_parent, o->h2,
          (unsigned long long)o->seed, o->traits == 2 ? " --traits 2" : "", o->maternal ? " --maternal" : "", o->social ? " --social" : "",
          o->shuffle ? " --shuffle" : "", genotypes);
  fprintf(f, "data      data.txt\n"
             "pedigree  pedigree.txt\n");
  if (o->genotyped) fprintf(f, "genotypes %s\n", o->genotype_format & FORMAT_TEXT ? "genotypes.txt" : "genotypes.bed");
  fprintf(f,
          "trait     weight\n"
          "%s"
          "fixed     hys\n"
          "fixed     sex\n"
          "covariate age\n",
          p->ntraits == 2 ? "trait     weight2\n" : "");
  if (o->maternal && p->ntraits == 1) {
    fprintf(f, "random    animal dam pedigree");
    PrintLower(f, p->G, 0, 2);
    fprintf(f, " as animal maternal\nrandom    dam iid %g as mpe\n", MATERNAL_PE_VARIANCE);
  } else if (o->social) {
    fprintf(f, "random    animal pedigree social pen");
    PrintLower(f, p->G, 0, 2);
    fprintf(f, " as animal social\nrandom    pen iid %g\n", PEN_VARIANCE);
  } else {
    fprintf(f, "random    animal pedigree");
    PrintLower(f, p->G, 0, p->ntraits);
    fputc('\n', f);
  }
  if (o->maternal && p->ntraits == 2)
    fprintf(f,
            "# the maternal genetic effect on weight was simulated with a covariance of %g with the direct one; here it is\n"
            "# uncorrelated with it, as a correlated one would need a 4 x 4 G0 over the direct and maternal effects of both traits\n"
            "random    dam pedigree %g for weight as maternal\n"
            "random    dam iid %g as mpe for weight\n",
            p->G[m][0], p->G[m][m], MATERNAL_PE_VARIANCE);
  fprintf(f, "residual ");
  PrintLower(f, p->R, 0, p->ntraits);
  fprintf(f, "\noutput    solutions.h5\n");
  if (fclose(f)) Die("cannot write %s: %s", path, strerror(errno));
}

int main(int argc, char **argv)
{
  Options         opt    = ParseOptions(argc, argv);
  Population      pop    = {0};
  Genome          genome = {0};
  Rng             rng;
  Out             pedigree, data, truth;
  struct timespec t0, t1;
  int32_t         largest      = 0;
  char            missing2[64] = "", pens[128] = "";

  clock_gettime(CLOCK_MONOTONIC, &t0);
  RngSeed(&rng, opt.seed);
  PopulationCreate(&pop, &opt, &rng); /* first, so that bad options leave no directory behind */
  if (opt.genotyped) GenomeLayout(&genome, &opt);
  if (opt.qtl) {
    QtlCreate(&genome, &opt);
    pop.qtl = &genome;
  }
  if (mkdir(opt.out, 0777) && errno != EEXIST) Die("cannot create directory %s: %s", opt.out, strerror(errno));
  OutOpen(&pedigree, opt.out, "pedigree.txt");
  OutOpen(&data, opt.out, "data.txt");
  OutOpen(&truth, opt.out, "true_bv.txt");
  Simulate(&pop, &rng, &pedigree, &data, &truth);
  OutClose(&pedigree);
  OutClose(&data);
  OutClose(&truth);
  if (opt.genotyped) WriteGenotypes(&genome, &pop);
  WriteModel(&pop);
  for (int64_t m = 0; m < pop.male_start[pop.ngen]; m++)
    if (pop.male_progeny[m] > largest) largest = pop.male_progeny[m];
  clock_gettime(CLOCK_MONOTONIC, &t1);

  if (opt.traits == 2) snprintf(missing2, sizeof(missing2), ", %lld weight2 NA", (long long)pop.nmissing2);
  if (opt.social)
    snprintf(pens, sizeof(pens), ", %lld pens of %.2f on average (%lld of fewer than %d)", (long long)pop.npens,
             pop.npens ? (double)pop.nrecords / (double)pop.npens : 0.0, (long long)pop.nsmall_pens, (int)PEN_MIN);
  printf("henderson-simulate: %lld animals (%lld founders, %lld generations), %lld records (%lld NA%s), %lld herds, %lld hys levels%s, largest sire family %d, "
         "%.2f s -> %s\n",
         (long long)pop.n, (long long)pop.gen_start[1], (long long)opt.generations, (long long)pop.nrecords, (long long)pop.nmissing, missing2,
         (long long)pop.nherds, (long long)pop.nhys, pens, (int)largest, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), opt.out);
  if (opt.genotyped)
    printf("henderson-simulate: genotypes of %lld animals (%lld outside the pedigree), %lld SNPs on %lld chromosomes, %.2f%% of the calls missing; "
           "haplotypes of %lld animals dropped, at most %.1f MB held at once\n",
           (long long)genome.ntyped, (long long)genome.noutside, (long long)genome.nsnp, (long long)genome.nchrom,
           100.0 * (double)genome.nmissing / ((double)genome.ntyped * (double)genome.nsnp), (long long)genome.ndropped,
           (double)genome.peak * (double)(2 * genome.words * (int64_t)sizeof(uint64_t)) / 1e6);
  if (opt.qtl) {
    int64_t first = pop.gen_start[pop.ngen - 1], m = pop.n - first;
    double  s = 0, ss = 0;
    for (int64_t i = first; i < pop.n; i++) {
      s += genome.qtl_value[i];
      ss += genome.qtl_value[i] * genome.qtl_value[i];
    }
    printf("henderson-simulate: %lld QTL among the SNPs, genic variance %g in the founders (%g of h2); the QTL values of the last generation: "
           "mean %.3f, variance %.3f\n",
           (long long)genome.nqtl, genome.qtl_variance, opt.qtl_share, s / (double)m, ss / (double)m - (s / (double)m) * (s / (double)m));
  }
  GenomeDestroy(&genome);
  PopulationDestroy(&pop);
  return EXIT_SUCCESS;
}

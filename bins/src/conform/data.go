package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"hash/fnv"
	"math"
	"math/bits"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

func init() {
	register("maps", "map insert/delete/lookup of 100,000 keys, sorted iteration", runMaps)
	register("strings", "strings and bytes: Builder, Split, Fields, Replace, Title-case", runStrings)
	register("unicode", "UTF-8 decoding, runes, unicode classes", runUnicode)
	register("reflect", "reflection: struct fields and tags, method calls, Set", runReflect)
	register("fmtfloat", "fmt and strconv with floats: %g %e %f, NaN, Inf, -0", runFmtFloat)
	register("math", "math functions and integer bit operations", runMath)
	register("sort", "sort.Slice, sort.Stable, sort.Search", runSort)
	register("hashes", "crc32, adler32, fnv, base64 and hex of known inputs", runHashes)
	register("generics", "generic functions and types", runGenerics)
	register("interfaces", "interfaces, embedding, method values, closures", runInterfaces)
	register("binary", "encoding/binary: both byte orders, varints", runBinary)
}

func runMaps(args []string) error {
	m := make(map[int]string)
	for i := 0; i < 100000; i++ {
		m[i] = strconv.Itoa(i * 7)
	}
	for i := 0; i < 100000; i += 2 {
		delete(m, i)
	}
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	_, has := m[4]
	fmt.Printf("maps: len %d, first %d=%s, last %d=%s, has 4 %v\n",
		len(m), keys[0], m[keys[0]], keys[len(keys)-1], m[keys[len(keys)-1]], has)
	nested := map[string]map[string]int{"a": {"x": 1}, "b": {"y": 2, "z": 3}}
	fmt.Printf("maps: nested %v\n", nested)
	if len(m) != 50000 {
		return failf("len %d", len(m))
	}
	return nil
}

func runStrings(args []string) error {
	var b strings.Builder
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&b, "%d,", i)
	}
	s := b.String()
	fmt.Printf("strings: %q split %q\n", s, strings.Split(strings.TrimSuffix(s, ","), ","))
	fmt.Printf("strings: fields %q\n", strings.Fields("  the quick\tbrown\n fox  "))
	fmt.Printf("strings: %s | %s | %s\n", strings.ToUpper("mixed Case"), strings.Repeat("ab", 3),
		strings.ReplaceAll("a-b-c", "-", "+"))
	before, after, found := strings.Cut("key=value=x", "=")
	fmt.Printf("strings: cut %q %q %v, index %d, contains %v\n", before, after, found,
		strings.Index("chicken", "ken"), strings.Contains("seafood", "foo"))
	fmt.Printf("strings: bytes equal %v, compare %d, title %s\n", bytes.Equal([]byte("a"), []byte("a")),
		strings.Compare("a", "b"), strings.Map(unicode.ToTitle, "go"))
	return nil
}

func runUnicode(args []string) error {
	s := "héllo, 世界 🌍"
	fmt.Printf("unicode: bytes %d runes %d valid %v\n", len(s), utf8.RuneCountInString(s), utf8.ValidString(s))
	for i, r := range s {
		if r > 127 {
			fmt.Printf("unicode: at %d %q U+%04X letter %v\n", i, r, r, unicode.IsLetter(r))
		}
	}
	fmt.Printf("unicode: upper %s, invalid byte decodes to %q\n", strings.ToUpper(s), []rune(string([]byte{0xff}))[0])
	return nil
}

type record struct {
	Name  string `json:"name" db:"n"`
	Count int    `json:"count,omitempty"`
	tags  []string
}

func (r record) Describe(prefix string) string { return prefix + r.Name }

func runReflect(args []string) error {
	r := record{Name: "widget", Count: 3}
	t := reflect.TypeOf(r)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		fmt.Printf("reflect: field %s %s json=%q db=%q exported=%v\n", f.Name, f.Type, f.Tag.Get("json"),
			f.Tag.Get("db"), f.IsExported())
	}
	m := reflect.ValueOf(r).MethodByName("Describe")
	out := m.Call([]reflect.Value{reflect.ValueOf("it is a ")})
	fmt.Printf("reflect: method call -> %s\n", out[0])
	v := reflect.ValueOf(&r).Elem()
	v.FieldByName("Count").SetInt(99)
	fmt.Printf("reflect: after Set %+v kind %s\n", r, v.Kind())
	sl := reflect.MakeSlice(reflect.TypeOf([]int{}), 3, 3)
	sl.Index(1).SetInt(5)
	fmt.Printf("reflect: made %v, deep equal %v\n", sl.Interface(), reflect.DeepEqual(sl.Interface(), []int{0, 5, 0}))
	return nil
}

func runFmtFloat(args []string) error {
	vals := []float64{0, math.Copysign(0, -1), 1.0 / 3, 2.5e-310, 1e21, 123456789.125, math.Pi, math.MaxFloat64,
		math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN()}
	for _, v := range vals {
		fmt.Printf("fmtfloat: %g | %e | %.3f | %v | %s\n", v, v, v, float32(v), strconv.FormatFloat(v, 'g', -1, 64))
	}
	f, err := strconv.ParseFloat("0.1", 64)
	if err != nil {
		return err
	}
	fmt.Printf("fmtfloat: 0.1+0.2=%.17g parsed %b %x\n", f+0.2, f, f)
	fmt.Printf("fmtfloat: %08.3f|%-8.2f|%+.0f|%6.2e\n", 3.14159, 2.5, 2.5, 123456.0)
	var c complex128 = complex(1.5, -2)
	fmt.Printf("fmtfloat: %v %.2f\n", c, c*c)
	return nil
}

func runMath(args []string) error {
	fmt.Printf("math: sqrt2 %.15g exp1 %.15g log10 %.15g\n", math.Sqrt(2), math.Exp(1), math.Log(10))
	fmt.Printf("math: sin %.15g cos %.15g atan2 %.15g pow %.15g\n", math.Sin(1), math.Cos(1), math.Atan2(1, 2), math.Pow(2, 0.5))
	fmt.Printf("math: floor %v ceil %v trunc %v round %v mod %v\n", math.Floor(-1.5), math.Ceil(-1.5), math.Trunc(-1.5),
		math.Round(-2.5), math.Mod(7, -3))
	var x uint64 = 0xF0F0_0000_0000_0001
	fmt.Printf("math: bits len %d ones %d lead %d trail %d rev %#x\n", bits.Len64(x), bits.OnesCount64(x),
		bits.LeadingZeros32(1), bits.TrailingZeros64(x<<3), bits.Reverse8(0x12))
	hi, lo := bits.Mul64(x, x)
	q, r := bits.Div64(1, 0, 7)
	fmt.Printf("math: mul64 %#x %#x div64 %#x %d\n", hi, lo, q, r)
	var i32 int32 = math.MaxInt32
	i32++
	fmt.Printf("math: overflow %d, float->int %d, uint8 %d\n", i32, int64(float64(1<<53)+1), uint8(300&0xff))
	return nil
}

type byLen []string

func (s byLen) Len() int           { return len(s) }
func (s byLen) Less(i, j int) bool { return len(s[i]) < len(s[j]) }
func (s byLen) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }

func runSort(args []string) error {
	nums := make([]int, 1000)
	seed := uint32(12345)
	for i := range nums {
		seed ^= seed << 13
		seed ^= seed >> 17
		seed ^= seed << 5
		nums[i] = int(seed % 10000)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	words := []string{"banana", "kiwi", "apple", "fig", "cherry", "date", "plum"}
	sort.Stable(byLen(words))
	idx := sort.SearchInts(nums, 5000)
	fmt.Printf("sort: sorted %v, first %v, last %d, search 5000 -> %d\n", sort.IntsAreSorted(nums), nums[:5], nums[999], idx)
	fmt.Printf("sort: stable by length %v\n", words)
	return nil
}

func runHashes(args []string) error {
	in := []byte("The quick brown fox jumps over the lazy dog")
	f32, f64 := fnv.New32a(), fnv.New64()
	f32.Write(in)
	f64.Write(in)
	fmt.Printf("hashes: crc32 %08x castagnoli %08x adler32 %08x\n", crc32.ChecksumIEEE(in),
		crc32.Checksum(in, crc32.MakeTable(crc32.Castagnoli)), adler32.Checksum(in))
	fmt.Printf("hashes: fnv32a %08x fnv64 %016x\n", f32.Sum32(), f64.Sum64())
	fmt.Printf("hashes: base64 %s hex %s\n", base64.StdEncoding.EncodeToString(in[:10]), hex.EncodeToString(in[:6]))
	if crc32.ChecksumIEEE(in) != 0x414fa339 {
		return failf("crc32 mismatch")
	}
	return nil
}

type number interface{ ~int | ~int64 | ~float64 }

func sum[T number](xs []T) T {
	var s T
	for _, x := range xs {
		s += x
	}
	return s
}

type stack[T any] struct{ items []T }

func (s *stack[T]) push(v T) { s.items = append(s.items, v) }
func (s *stack[T]) pop() (T, bool) {
	var zero T
	if len(s.items) == 0 {
		return zero, false
	}
	v := s.items[len(s.items)-1]
	s.items = s.items[:len(s.items)-1]
	return v, true
}

func mapSlice[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func runGenerics(args []string) error {
	var st stack[string]
	st.push("a")
	st.push("b")
	top, _ := st.pop()
	fmt.Printf("generics: sums %d %.2f, top %s, mapped %v\n", sum([]int{1, 2, 3}), sum([]float64{0.5, 0.25}), top,
		mapSlice([]int{1, 2, 3}, func(i int) string { return strconv.Itoa(i * i) }))
	return nil
}

type shape interface {
	area() float64
	name() string
}

type rect struct{ w, h float64 }
type square struct{ rect }

func (r rect) area() float64   { return r.w * r.h }
func (r rect) name() string    { return "rect" }
func (s square) name() string  { return "square" }
func (s square) String() string { return fmt.Sprintf("square(%g)", s.w) }

func runInterfaces(args []string) error {
	shapes := []shape{rect{2, 3}, square{rect{4, 4}}}
	for _, s := range shapes {
		_, isStringer := s.(fmt.Stringer)
		fmt.Printf("interfaces: %s area %g stringer %v %v\n", s.name(), s.area(), isStringer, s)
	}
	counter := func() func() int {
		n := 0
		return func() int { n++; return n }
	}()
	counter()
	areaOf := shapes[1].area
	fmt.Printf("interfaces: closure %d, method value %g\n", counter(), areaOf())
	return nil
}

func runBinary(args []string) error {
	buf := make([]byte, 8)
	binary.LittleEndian.PutUint32(buf, 0x01020304)
	binary.BigEndian.PutUint32(buf[4:], 0x01020304)
	fmt.Printf("binary: % x\n", buf)
	v := binary.AppendUvarint(nil, 300)
	v = binary.AppendVarint(v, -129)
	u, n := binary.Uvarint(v)
	s, _ := binary.Varint(v[n:])
	fmt.Printf("binary: varints % x -> %d %d\n", v, u, s)
	var out bytes.Buffer
	_ = binary.Write(&out, binary.BigEndian, struct {
		A uint16
		B int32
		C float32
	}{1, -2, 1.5})
	fmt.Printf("binary: struct % x\n", out.Bytes())
	return nil
}

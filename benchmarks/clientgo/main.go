// Command clientgo is the comparison program of the scale benchmark (benchmarks/scale.py):
// client-go shared informers for the Pods and Jobs of one namespace, label-selected as
// zombiewatch selects them (every object carrying the task-id label), the foundation an
// executor built on client-go would have. It prints the seconds from its start to
// WaitForCacheSync, then keeps running and counting the events its handlers receive, so
// the benchmark can read its memory from /proc and compare the events it got with the
// daemon's. GET /stats on -listen answers all of that as JSON.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// taskIDLabel is zombiewatch's selector (src/domain/views.py TASK_ID_LABEL): existence.
const taskIDLabel = "agent.benjamin-borbe.de/task-id"

// counts are what one informer's handlers received.
type counts struct {
	added, updated, deleted atomic.Int64
}

func (c *counts) handler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.added.Add(1) },
		UpdateFunc: func(any, any) { c.updated.Add(1) },
		DeleteFunc: func(any) { c.deleted.Add(1) },
	}
}

func (c *counts) snapshot() map[string]int64 {
	return map[string]int64{
		"added": c.added.Load(), "updated": c.updated.Load(), "deleted": c.deleted.Load(),
	}
}

// stripManagedFields is the transform of the tuned variant: the cache keeps no managedFields.
func stripManagedFields(obj any) (any, error) {
	if accessor, err := meta.Accessor(obj); err == nil {
		accessor.SetManagedFields(nil)
	}
	return obj, nil
}

func main() {
	started := time.Now()
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	namespace := flag.String("namespace", "", "the namespace to inform on")
	strip := flag.Bool("strip-managed-fields", false, "drop managedFields with an informer transform")
	listen := flag.String("listen", "127.0.0.1:0", "address of GET /stats")
	flag.Parse()
	if *kubeconfig == "" || *namespace == "" {
		fmt.Fprintln(os.Stderr, "clientgo: -kubeconfig and -namespace are required")
		os.Exit(2)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "clientgo: %v\n", err)
		os.Exit(1)
	}
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "clientgo: %v\n", err)
		os.Exit(1)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(clientset, 0,
		informers.WithNamespace(*namespace),
		informers.WithTweakListOptions(func(options *metav1.ListOptions) {
			options.LabelSelector = taskIDLabel
		}))
	pods := factory.Core().V1().Pods().Informer()
	jobs := factory.Batch().V1().Jobs().Informer()
	var podCounts, jobCounts counts
	for informer, c := range map[cache.SharedIndexInformer]*counts{pods: &podCounts, jobs: &jobCounts} {
		if *strip {
			if err := informer.SetTransform(stripManagedFields); err != nil {
				fmt.Fprintf(os.Stderr, "clientgo: %v\n", err)
				os.Exit(1)
			}
		}
		if _, err := informer.AddEventHandler(c.handler()); err != nil {
			fmt.Fprintf(os.Stderr, "clientgo: %v\n", err)
			os.Exit(1)
		}
	}
	stop := make(chan struct{})
	var syncedSeconds atomic.Value
	syncedSeconds.Store(-1.0)
	http.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"synced_seconds": syncedSeconds.Load(),
			"pods":           len(pods.GetStore().ListKeys()),
			"jobs":           len(jobs.GetStore().ListKeys()),
			"pod_events":     podCounts.snapshot(),
			"job_events":     jobCounts.snapshot(),
			"heap_alloc":     mem.HeapAlloc,
			"heap_sys":       mem.HeapSys,
			"sys":            mem.Sys,
			"num_gc":         mem.NumGC,
			// Streaming lists (WatchList) instead of paged LISTs: client-go's default here.
			"watch_list_client": clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient),
		})
	})
	server := &http.Server{Addr: *listen, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			fmt.Fprintf(os.Stderr, "clientgo: %v\n", err)
			os.Exit(1)
		}
	}()
	factory.Start(stop)
	for kind, ok := range factory.WaitForCacheSync(stop) {
		if !ok {
			fmt.Fprintf(os.Stderr, "clientgo: %v never synced\n", kind)
			os.Exit(1)
		}
	}
	seconds := time.Since(started).Seconds()
	syncedSeconds.Store(seconds)
	fmt.Printf("synced %.3f s: %d pods, %d jobs\n", seconds,
		len(pods.GetStore().ListKeys()), len(jobs.GetStore().ListKeys()))
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
	close(stop)
	factory.Shutdown()
}
